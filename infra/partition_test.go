package infra_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

// inputStrings calls f with every string in a recorded input value.
func inputStrings(v any, path string, f func(path, s string)) {
	switch v := v.(type) {
	case string:
		f(path, v)
	case mocks.Secret:
		inputStrings(v.Value, path, f)
	case mocks.Asset:
		f(path, v.Text)
	case map[string]any:
		for k, e := range v {
			inputStrings(e, path+"."+k, f)
		}
	case []any:
		for i, e := range v {
			inputStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// The program names ARNs in the partition it runs in: a stack in
// GovCloud gets no arn:aws: ARN (IAM would refuse the policy, or it would
// name nothing). China's regions are refused (TestUnsupportedPartitions).
func TestNoCommercialARNsInOtherPartitions(t *testing.T) {
	for partition, region := range map[string]string{"aws-us-gov": "us-gov-west-1"} {
		opts := stackOptions(t, "prod", map[string]string{"aws:region": region})
		opts.Partition = partition
		rec, err := mocks.Run(infra.Program, opts)
		if err != nil {
			t.Fatalf("%s: %v", partition, err)
		}
		arns := 0
		for _, r := range rec.Resources() {
			for k, v := range r.Inputs {
				inputStrings(v, k, func(path, s string) {
					if strings.Contains(s, "arn:aws:") {
						t.Errorf("%s: %s %s input %s names a commercial ARN: %.200s", partition, r.Type, r.Name, path, s)
					}
					arns += strings.Count(s, "arn:"+partition+":")
				})
			}
		}
		if arns < 10 {
			t.Errorf("%s: only %d ARNs of the partition in the inputs: the test sees no policies", partition, arns)
		}
	}
}

// AWS China names its endpoint services cn.com.amazonaws.*, and the
// isolated partitions differ further: their regions are refused before
// anything is registered, naming the partition.
func TestUnsupportedPartitions(t *testing.T) {
	for partition, region := range map[string]string{"aws-cn": "cn-north-1", "aws-iso": "us-iso-east-1"} {
		opts := stackOptions(t, "prod", map[string]string{"aws:region": region})
		opts.Partition = partition
		rec, err := mocks.Run(infra.Program, opts)
		if err == nil || !strings.Contains(err.Error(), `aws:region = "`+region+`": is in the `+partition+` partition, which webstack does not support`) {
			t.Errorf("%s: %v", region, err)
		}
		if rec.Count() != 0 {
			t.Errorf("%s: %d resources registered", region, rec.Count())
		}
	}
}
