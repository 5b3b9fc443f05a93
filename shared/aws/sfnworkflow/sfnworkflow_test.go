package sfnworkflow_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/sfnworkflow"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func TestStartIsIdempotentAndStaleTokensAreNotFound(t *testing.T) {
	endpoint := awstest.Moto(t)
	api := sfn.NewFromConfig(awstest.Config(), func(o *sfn.Options) { o.BaseEndpoint = aws.String(endpoint) })
	ctx := awstest.Context(t)
	fn := "arn:aws:lambda:us-east-1:123456789012:function:"
	def, err := workflow.Run().ASL(map[string]string{workflow.TaskHold: fn + "reserve", workflow.TaskReserve: fn + "reserve", workflow.TaskSubmit: fn + "submit", workflow.TaskFinish: fn + "finish"})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := api.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sparkflow-run"), Definition: aws.String(string(def)),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/sparkflow-run")})
	if err != nil {
		t.Fatalf("the generated definition was refused: %v", err)
	}
	w := sfnworkflow.New(api, aws.ToString(sm.StateMachineArn))
	in := workflow.Input{RunID: "6f1c2b8e-3d4a-4b5c-9d8e-7f6a5b4c3d2e", QueueTimeoutSeconds: 60, TimeoutSeconds: 60}
	if err := w.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx, in); err != nil {
		t.Fatalf("a second start of the same run must be a no-op: %v", err)
	}
	list, err := api.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil || len(list.Executions) != 1 || aws.ToString(list.Executions[0].Name) != in.RunID {
		t.Fatalf("executions %+v %v: want one named by the run id", list, err)
	}
	// moto 5.2.1 accepts any task token, so stale tokens are checked with a fake below.
}

type fakeAPI struct {
	sfnworkflow.API
	err error
}

func (f fakeAPI) SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return nil, f.err
}

func (f fakeAPI) SendTaskFailure(context.Context, *sfn.SendTaskFailureInput, ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	return nil, f.err
}

func TestStaleTokensAreNotFound(t *testing.T) {
	for _, err := range []error{&types.TaskTimedOut{Message: aws.String("timed out")}, &types.TaskDoesNotExist{Message: aws.String("gone")}, &types.InvalidToken{Message: aws.String("bad")}} {
		w := sfnworkflow.New(fakeAPI{err: err}, "arn")
		if got := w.SendTaskSuccess(context.Background(), "t", []byte("{}")); !sparkflow.IsCode(got, sparkflow.NotFound) {
			t.Errorf("%T: SendTaskSuccess classified %v", err, sparkflow.ErrorCode(got))
		}
		if got := w.SendTaskFailure(context.Background(), "t", "E", "c"); !sparkflow.IsCode(got, sparkflow.NotFound) {
			t.Errorf("%T: SendTaskFailure classified %v", err, sparkflow.ErrorCode(got))
		}
	}
	w := sfnworkflow.New(fakeAPI{err: &types.ExecutionLimitExceeded{}}, "arn")
	if got := w.SendTaskSuccess(context.Background(), "t", nil); sparkflow.IsCode(got, sparkflow.NotFound) {
		t.Fatal("only a stale token is NotFound")
	}
}
