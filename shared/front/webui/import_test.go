package webui_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/emrimport"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// importer is the web UI's view of an account (emrimport.Account).
type importer struct{ a emrimport.Account }

func (i importer) Clusters(ctx context.Context) ([]webui.ClusterSummary, error) {
	cs, err := i.a.Clusters(ctx)
	var out []webui.ClusterSummary
	for _, c := range cs {
		out = append(out, webui.ClusterSummary{ID: c.ID, Name: c.Name, State: c.State, Created: c.Created})
	}
	return out, err
}

func (i importer) Describe(ctx context.Context, id, pool string) (sparkflow.Pool, []string, error) {
	return i.a.Describe(ctx, id, pool)
}

// TestImportAPoolFromTheAccountsClusters: with AWS access (moto's EMR here) the import page lists the
// account's active clusters; a preview shows the pool a cluster makes and what it leaves out, and
// creating it makes a pool with the cluster's instances; without AWS access the page says so.
func TestImportAPoolFromTheAccountsClusters(t *testing.T) {
	endpoint := awstest.Moto(t)
	ctx := awstest.Context(t)
	api := emr.NewFromConfig(awstest.Config(), func(o *emr.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := api.RunJobFlow(ctx, &emr.RunJobFlowInput{Name: aws.String("team-etl"), ReleaseLabel: aws.String("emr-7.2.0"), StepConcurrencyLevel: aws.Int32(4),
		Instances: &types.JobFlowInstancesConfig{KeepJobFlowAliveWhenNoSteps: aws.Bool(true), InstanceGroups: []types.InstanceGroupConfig{
			{InstanceRole: types.InstanceRoleTypeMaster, InstanceType: aws.String("m5.xlarge"), InstanceCount: aws.Int32(1)},
			{InstanceRole: types.InstanceRoleTypeCore, InstanceType: aws.String("r5.2xlarge"), InstanceCount: aws.Int32(3)}}},
		BootstrapActions: []types.BootstrapActionConfig{{Name: aws.String("deps"), ScriptBootstrapAction: &types.ScriptBootstrapActionConfig{Path: aws.String("s3://b/deps.sh")}}},
		ServiceRole:      aws.String("EMR_DefaultRole"), JobFlowRole: aws.String("EMR_EC2_DefaultRole")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.JobFlowId)

	e := localtest.New(t, func(c *engine.Config) { c.ProvisionDelay = 20 * time.Millisecond })
	srv := httptest.NewServer(webui.New(e, webui.Options{Importer: importer{emrimport.Account{API: api}}}))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	f := &fixture{srv, e, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	if _, page := f.get(t, "/clusters/import"); !strings.Contains(page, `data-cluster="`+id+`"`) || !strings.Contains(page, "team-etl") {
		t.Fatal("the import page does not list the account's cluster")
	}
	_, page := f.get(t, "/clusters/import?from="+id+"&name=clone")
	if !strings.Contains(page, "Pool clone (not created yet)") || !strings.Contains(page, "3 on-demand + 0 spot of r5.2xlarge") || !strings.Contains(page, "bootstrap actions are not carried: deps") {
		t.Fatalf("the preview does not show the pool and its notes:\n%s", page)
	}
	if _, err := e.GetPool(context.Background(), "clone"); !sparkflow.IsCode(err, sparkflow.NotFound) {
		t.Fatalf("a preview created the pool (%v)", err)
	}
	status, loc, body := f.post(t, "/clusters/import", url.Values{"from": {id}, "name": {"clone"}, "clusters": {"2"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/clusters?msg=") {
		t.Fatalf("import: %d %s %s", status, loc, body)
	}
	p, err := e.GetPool(context.Background(), "clone")
	if err != nil || p.Clusters != 2 || p.CustomTier == nil || p.CustomTier.Core.InstanceTypes[0] != "r5.2xlarge" || p.StepConcurrency != 4 || p.ReleaseLabel != "emr-7.2.0" {
		t.Fatalf("imported pool %+v (%v)", p.Pool, err)
	}
	// Importing it again is refused, saying why, back on the preview.
	if status, loc, _ := f.post(t, "/clusters/import", url.Values{"from": {id}, "name": {"clone"}, "clusters": {"1"}}); status != http.StatusSeeOther || !strings.Contains(loc, "msg=not+imported") {
		t.Fatalf("a second import: %d %s", status, loc)
	}

	plain := setup(t)
	if _, page := plain.get(t, "/clusters/import"); !strings.Contains(page, "this UI has no AWS access") {
		t.Fatal("a UI without AWS access does not say so on the import page")
	}
}
