//go:build !cgo

package pcsc

import "time"

// Context is a connection to the smart-card service; without cgo it cannot be made.
type Context struct{}

// Card is a connection to the card in one reader; without cgo it cannot be made.
type Card struct{}

// EstablishContext returns ErrNotBuilt: tokenbatch was built without cgo.
func EstablishContext() (*Context, error) { return nil, ErrNotBuilt }

func (c *Context) Release() error                                       { return ErrNotBuilt }
func (c *Context) ListReaders() ([]string, error)                       { return nil, ErrNotBuilt }
func (c *Context) Connect(reader string, mode ShareMode) (*Card, error) { return nil, ErrNotBuilt }
func (c *Context) GetStatusChange(states []ReaderState, timeout time.Duration) error {
	return ErrNotBuilt
}
func (c *Context) Cancel() error                    { return ErrNotBuilt }
func (k *Card) BeginTransaction() error             { return ErrNotBuilt }
func (k *Card) EndTransaction(d Disposition) error  { return ErrNotBuilt }
func (k *Card) Transmit(cmd []byte) ([]byte, error) { return nil, ErrNotBuilt }
func (k *Card) Status() ([]byte, error)             { return nil, ErrNotBuilt }
func (k *Card) Disconnect(d Disposition) error      { return ErrNotBuilt }
