// Package testenv gates tests on outside tools and keeps every AWS client in a test on
// loopback. A test that needs a tool calls Tool; without the tool it skips, unless
// TOKENBATCH_REQUIRE_TOOLS=1 (as in CI), where it fails.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Required reports whether missing tools fail tests instead of skipping them.
func Required() bool { return os.Getenv("TOKENBATCH_REQUIRE_TOOLS") == "1" }

// Missing skips the test, or fails it when tools are required.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("TOKENBATCH_REQUIRE_TOOLS=1 and "+format, args...)
	}
	t.Skipf(format, args...)
}

// Tool returns the path of an executable (a name on PATH or an absolute path), or
// skips/fails the test when it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found (run 'make deps')", name)
	}
	return p
}

// AWSCLIv2 is the AWS CLI v2 of the Debian package.
const AWSCLIv2 = "/usr/bin/aws"

// Python returns a python3 that can import every module given, or skips/fails.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := Tool(t, "python3")
	if len(modules) > 0 {
		cmd := exec.Command(py, "-c", "import "+strings.Join(modules, ", "))
		if out, err := cmd.CombinedOutput(); err != nil {
			Missing(t, "python3 cannot import %s: %s", strings.Join(modules, ", "), strings.TrimSpace(string(out)))
		}
	}
	return py
}

// AWSEnv sets, for the duration of the test, an environment in which AWS SDKs and CLIs
// read only empty config files in a temporary directory, never probe instance metadata,
// and use the given static credentials (none if key is empty). It returns the
// directory, where a test may write its own config and credentials files.
func AWSEnv(t testing.TB, key, secret string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	for _, f := range []string{cfg, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range Env(dir, key, secret) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return dir
}

// Env returns the variables AWSEnv sets, for a subprocess's environment.
func Env(dir, key, secret string) []string {
	env := []string{
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_REGION=us-east-1",
		"AWS_PAGER=",
		"AWS_RETRY_MODE=standard",
		"AWS_MAX_ATTEMPTS=1",
	}
	if key != "" {
		env = append(env, "AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+secret)
	} else {
		env = append(env, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	}
	return env
}

// CleanEnv returns os.Environ() without AWS_* variables, plus extra.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// SyncBuffer is a bytes.Buffer for several writers at once (a process's output read
// while it runs, or two loggers sharing stderr).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
