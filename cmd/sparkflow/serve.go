package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// A client that sends its headers or its body slowly is cut off rather than held forever.
var (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
)

// serve serves handler on ln until it fails or ctx ends (Ctrl-C), then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener, handler http.Handler) error {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}
	return nil
}
