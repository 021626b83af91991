# tokenbatch. See README.md: `make demo` runs the main job on the bundled simulator,
# `make test` runs every test, the ones with real clients and emulators included.
GO        ?= go
BIN       := bin/tokenbatch
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/tokenbatch/tokenbatch/commands.Version=$(VERSION)
FUZZTIME  ?= 20s
export AWS_EC2_METADATA_DISABLED := true

.PHONY: all deps build test demo bench fuzz clean

all: build

deps:
	@scripts/deps.sh

# Smart-card support needs cgo; Go turns cgo off silently without a C compiler, so a
# build without it is refused here (CGO_ENABLED=0 go build ./... still compiles).
build:
	@test "$$($(GO) env CGO_ENABLED)" = 1 || { echo "make build: cgo is off, so YubiKey support would be missing; install gcc or set CGO_ENABLED=1" >&2; exit 1; }
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tokenbatch

test: deps
	$(GO) vet ./...
	scripts/with-pcscd.sh $(GO) test -count=1 -timeout 15m ./...

demo: deps build
	scripts/demo.sh

bench: deps build
	scripts/with-pcscd.sh scripts/bench.sh

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
