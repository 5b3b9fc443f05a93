// Package awstest starts the AWS emulator the AWS adapters are tested against: moto_server (moto
// 5.2.1, installed with pip on the project's machines), on 127.0.0.1 and a free port, for the life of a
// test binary. A machine without it fails the tests in CI (CI=true) and skips them, saying why,
// elsewhere: an emulator test never passes silently.
package awstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var (
	once     sync.Once
	endpoint string
	startErr error
	cmd      *exec.Cmd
)

// Moto returns the endpoint of a running moto_server, starting it on first use.
func Moto(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is needed for this test: %v", startErr)
		}
		t.Skipf("moto_server is not available (%v); install it with pip install 'moto[server]==5.2.1'", startErr)
	}
	return endpoint
}

func start() {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		startErr = err
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		startErr = err
		return
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd = exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		startErr = err
		return
	}
	endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			startErr = fmt.Errorf("moto_server did not answer on %s: %w", endpoint, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the emulator; call it from TestMain after m.Run.
func Stop() {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// Config is an AWS config for the emulator: fixed region, dummy static credentials.
func Config() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		RetryMaxAttempts: 3}
}

// Context is a context with a deadline for one emulator call sequence.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Main runs a package's tests and stops the emulator after them; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}
