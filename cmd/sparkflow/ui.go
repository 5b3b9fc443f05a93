package main

import (
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/front/webui"
)

// newUICmd serves the web UI and the JSON API over the chosen target: with --target aws, a deployed
// stack read and changed with the user's own credentials (sparkflow local serves them for its engine).
func newUICmd(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI (and JSON API) for --target: a local server, or a deployed stack with --target aws",
		Example: `  sparkflow ui --target aws --stack SparkFlow      # then open http://127.0.0.1:8081
  sparkflow ui --server http://127.0.0.1:8080 --addr 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
				return usagef("--addr %q: the UI serves loopback only (for example 127.0.0.1:8081)", addr)
			}
			b := g.backend()
			logs := g.target == "local"
			mux := http.NewServeMux()
			mux.Handle("/api/", httpapi.NewServer(b, httpapi.Options{}))
			prices, region, err := g.pricing(c.Context(), "")
			if err != nil {
				return err
			}
			mux.Handle("/", webui.New(b, webui.Options{Logs: logs, Prices: prices, Region: region, Importer: &accountImporter{}}))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (choose another --addr)", addr, err)
			}
			fmt.Fprintf(c.ErrOrStderr(), "sparkflow ui: http://%s (target %s); Ctrl-C to stop\n", ln.Addr(), g.target)
			return serve(c.Context(), ln, mux)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "address to serve on (loopback only)")
	return cmd
}
