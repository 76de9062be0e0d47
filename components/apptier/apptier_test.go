package apptier

import (
	"strings"
	"testing"
)

// Region, Partition and AccountID reach the application hosts' env files:
// hostile values are refused, each naming its field.
func TestArgsRefuseHostileRegionPartitionAccount(t *testing.T) {
	err := Args{Port: 8080, Region: "us-east-1\nAWS_REGION=evil", Partition: "aws;id", AccountID: "1234"}.validate()
	if err == nil {
		t.Fatal("hostile inputs accepted")
	}
	for _, want := range []string{"apptier", "Region", "Partition", "AccountID", "an AWS region name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	ok := Args{Port: 8080, Region: "eu-west-1", Partition: "aws", AccountID: "123456789012"}.validate()
	for _, field := range []string{"Args.Region =", "Args.Partition =", "Args.AccountID ="} {
		if ok != nil && strings.Contains(ok.Error(), field) {
			t.Errorf("valid %s refused: %v", field, ok)
		}
	}
}
