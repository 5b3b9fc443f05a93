package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Client is a Backend over the JSON API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

var _ sparkflow.Backend = (*Client)(nil)

// NewClient returns a client of the server at baseURL (for example http://127.0.0.1:8080).
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "server address %q", c.BaseURL)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return sparkflow.Wrap(sparkflow.Transient, err, "cannot reach the SparkFlow server at %s (start one with 'sparkflow local', or set --server / SPARKFLOW_SERVER)", c.BaseURL)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return sparkflow.Wrap(sparkflow.Transient, err, "read response")
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			code := eb.Error.Code
			if code == "" {
				code = sparkflow.Internal
			}
			// The message names the field already ("pool: ..."); keep the field as data too.
			msg := strings.TrimPrefix(eb.Error.Message, eb.Error.Field+": ")
			if eb.Error.Field == "" {
				msg = eb.Error.Message
			}
			return &sparkflow.Error{Code: code, Field: eb.Error.Field, Message: msg}
		}
		return sparkflow.Errorf(sparkflow.Internal, "server answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return sparkflow.Wrap(sparkflow.Internal, err, "server answered something that is not the expected JSON")
	}
	return nil
}

func (c *Client) Tiers(ctx context.Context) ([]sparkflow.Tier, error) {
	var out []sparkflow.Tier
	return out, c.do(ctx, http.MethodGet, "/api/tiers", nil, &out)
}

func (c *Client) CreatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.PoolView, error) {
	var out sparkflow.PoolView
	return out, c.do(ctx, http.MethodPost, "/api/pools", p, &out)
}

func (c *Client) ListPools(ctx context.Context) ([]sparkflow.PoolView, error) {
	var out []sparkflow.PoolView
	return out, c.do(ctx, http.MethodGet, "/api/pools", nil, &out)
}

func (c *Client) GetPool(ctx context.Context, name string) (sparkflow.PoolView, error) {
	var out sparkflow.PoolView
	return out, c.do(ctx, http.MethodGet, "/api/pools/"+url.PathEscape(name), nil, &out)
}

func (c *Client) DeletePool(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, "/api/pools/"+url.PathEscape(name)+"?force="+strconv.FormatBool(force), nil, nil)
}

func (c *Client) HealPool(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/api/pools/"+url.PathEscape(name)+"/heal", nil, nil)
}

func (c *Client) CreateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	var out sparkflow.Transform
	return out, c.do(ctx, http.MethodPost, "/api/transforms", t, &out)
}

func (c *Client) UpdateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	var out sparkflow.Transform
	return out, c.do(ctx, http.MethodPut, "/api/transforms/"+url.PathEscape(t.Name), t, &out)
}

func (c *Client) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	var out []sparkflow.Transform
	return out, c.do(ctx, http.MethodGet, "/api/transforms?pool="+url.QueryEscape(pool), nil, &out)
}

func (c *Client) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	var out sparkflow.Transform
	return out, c.do(ctx, http.MethodGet, "/api/transforms/"+url.PathEscape(name), nil, &out)
}

func (c *Client) DeleteTransform(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/transforms/"+url.PathEscape(name), nil, nil)
}

func (c *Client) SubmitRun(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	var out sparkflow.Run
	return out, c.do(ctx, http.MethodPost, "/api/runs", req, &out)
}

func (c *Client) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	q := url.Values{}
	if f.Transform != "" {
		q.Set("transform", f.Transform)
	}
	if f.Pool != "" {
		q.Set("pool", f.Pool)
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Active {
		q.Set("active", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []sparkflow.Run
	return out, c.do(ctx, http.MethodGet, "/api/runs?"+q.Encode(), nil, &out)
}

func (c *Client) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	var out sparkflow.Run
	return out, c.do(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(id), nil, &out)
}

func (c *Client) CancelRun(ctx context.Context, id string) (sparkflow.Run, error) {
	var out sparkflow.Run
	return out, c.do(ctx, http.MethodPost, "/api/runs/"+url.PathEscape(id)+"/cancel", nil, &out)
}

func (c *Client) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	var out []sparkflow.Rejected
	return out, c.do(ctx, http.MethodGet, "/api/rejected?limit="+strconv.Itoa(limit), nil, &out)
}

func (c *Client) RunLogs(ctx context.Context, id string, q sparkflow.LogQuery) (string, error) {
	var out struct {
		Text string `json:"text"`
	}
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/runs/%s/logs?stream=%s&tail=%d&attempt=%d", url.PathEscape(id), url.QueryEscape(q.Stream), q.Tail, q.Attempt), nil, &out)
	return out.Text, err
}

// RunTrace asks the server where a run's SparkFlow log lines are.
func (c *Client) RunTrace(ctx context.Context, id string) (sparkflow.RunTrace, error) {
	var out sparkflow.RunTrace
	err := c.do(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(id)+"/trace", nil, &out)
	return out, err
}

var _ sparkflow.TraceFinder = (*Client)(nil)
