package infra_test

import (
	"strings"
	"testing"
)

// Every bad setting is refused with an error naming the key, the value and
// what is allowed, before anything is registered.
func TestInvalidSettingsAreRefusedBeforeAnythingIsRegistered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stack    string
		override map[string]string
		want     []string // substrings of the error, each naming a key
	}{
		{"malformed VPC CIDR", "dev", map[string]string{"webstack:network": `{"cidr": "10.0.0.0/33"}`},
			[]string{`webstack:network.cidr = "10.0.0.0/33": must be an IPv4 CIDR block`}},
		{"VPC too small", "dev", map[string]string{"webstack:network": `{"cidr": "10.0.0.0/24"}`},
			[]string{`webstack:network.cidr = "10.0.0.0/24": must be between /16 and /22`}},
		{"VPC CIDR with host bits", "dev", map[string]string{"webstack:network": `{"cidr": "10.0.3.0/16"}`},
			[]string{`webstack:network.cidr = "10.0.3.0/16": has host bits set; did you mean 10.0.0.0/16?`}},
		{"public VPC range", "dev", map[string]string{"webstack:network": `{"cidr": "8.8.0.0/16"}`},
			[]string{`webstack:network.cidr = "8.8.0.0/16": must be a private range`}},
		{"one zone", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1"]}`},
			[]string{`webstack:network.zoneIds = ["use1-az1"]: must list at least 2 zone IDs`}},
		{"duplicate zones", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1", "use1-az1"]}`},
			[]string{`webstack:network.zoneIds[1] = "use1-az1": is listed twice`}},
		{"zone name instead of ID", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1", "us-east-1b"]}`},
			[]string{`webstack:network.zoneIds[1] = "us-east-1b": must be an availability zone ID`}},
		{"zones by name", "dev", map[string]string{"webstack:network": `{"availabilityZones": ["us-east-1a", "us-east-1b"], "zoneIds": ["use1-az1", "use1-az2"]}`},
			[]string{`webstack:network.availabilityZones = ["us-east-1a","us-east-1b"]: is replaced by network.zoneIds`}},
		{"zone the region lacks", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1", "use1-az6"]}`},
			[]string{`webstack:network.zoneIds[1] = "use1-az6": is not an available zone of region us-east-1`}},
		// use1-az3 offers no Graviton instances: a t4g host there would fail to launch.
		{"zone without the stack's instance types", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1", "use1-az3"]}`},
			[]string{`webstack:network.zoneIds[1] = "use1-az3": zone use1-az3 (us-east-1d) does not offer instance type t4g.`}},
		// No zones: refused, never "the first available at each run"; the message lists the qualifying IDs to commit.
		{"no zones", "dev", map[string]string{"webstack:network": `{"zoneIds": []}`},
			[]string{`webstack:network.zoneIds = []: is not set`, `[use1-az1, use1-az2, use1-az4]`}},
		{"unknown NAT strategy", "dev", map[string]string{"webstack:network": `{"natGateways": "double"}`},
			[]string{`webstack:network.natGateways = "double": must be one of none, single, perAz`}},
		{"log retention CloudWatch refuses", "dev", map[string]string{"webstack:network": `{"flowLogRetentionDays": 10}`},
			[]string{`webstack:network.flowLogRetentionDays = 10: must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14`}},
		{"required endpoint removed", "dev", map[string]string{"webstack:network": `{"interfaceEndpoints": ["ssm"]}`},
			[]string{`webstack:network.interfaceEndpoints = ["ssm"]: must include "ec2"`, `must include "secretsmanager"`}},
		{"no web server", "dev", map[string]string{"webstack:web": `{"min": 0, "desired": 0}`},
			[]string{`webstack:web.min = 0: must be between 1 and 20`}},
		{"negative app servers", "dev", map[string]string{"webstack:app": `{"min": -1}`},
			[]string{`webstack:app.min = -1: must be between 1 and 20`}},
		{"min above max", "dev", map[string]string{"webstack:app": `{"min": 3, "max": 2, "desired": 2}`},
			[]string{`webstack:app.max = 2: must be at least min (3)`}},
		{"desired outside the group", "staging", map[string]string{"webstack:web": `{"desired": 5}`},
			[]string{`webstack:web.desired = 5: must be between min (2) and max (4)`}},
		{"unknown scaling metric", "prod", map[string]string{"webstack:web": `{"min": 3, "max": 6, "desired": 3, "scaling": {"metric": "requests"}}`},
			[]string{`webstack:web.scaling.metric = "requests": must be "cpu"`}},
		{"the old count", "dev", map[string]string{"webstack:web": `{"count": 2}`},
			[]string{`webstack:web.count = 2: replaced by the tier's Auto Scaling group: write desired: N`}},
		{"web port out of range", "dev", map[string]string{"webstack:web": `{"port": 0}`},
			[]string{`webstack:web.port = 0: must be a TCP port between 1 and 65535`}},
		{"app port out of range", "dev", map[string]string{"webstack:app": `{"port": 70000}`},
			[]string{`webstack:app.port = 70000: must be a TCP port between 1 and 65535`}},
		{"malformed instance type", "dev", map[string]string{"webstack:loadBalancer": `{"instanceType": "t4g"}`},
			[]string{`webstack:loadBalancer.instanceType = "t4g": must be an EC2 instance type`}},
		{"image of the wrong architecture", "dev", map[string]string{"webstack:web": `{"ami": "ami-0aaaaaaaaaaaaaaa1"}`},
			[]string{`webstack:web.ami = "ami-0aaaaaaaaaaaaaaa1": the image is x86_64 but instance type t4g.small is arm64`}},
		{"image that does not exist", "dev", map[string]string{"webstack:app": `{"ami": "ami-0ccccccccccccccc3"}`},
			[]string{`webstack:app.ami = "ami-0ccccccccccccccc3": image not found`}},
		{"malformed AMI id", "dev", map[string]string{"webstack:app": `{"ami": "ubuntu"}`},
			[]string{`webstack:app.ami = "ubuntu": must be an image id`}},
		{"client CIDR with host bits", "dev", map[string]string{"webstack:loadBalancer": `{"allowedCidrs": ["203.0.113.7/24"]}`},
			[]string{`webstack:loadBalancer.allowedCidrs[0] = "203.0.113.7/24": must be an IPv4 CIDR block`}},
		{"nobody may reach the site", "dev", map[string]string{"webstack:loadBalancer": `{"allowedCidrs": [], "allowedIpv6Cidrs": []}`},
			[]string{`webstack:loadBalancer.allowedCidrs = []: no client could reach the site`}},
		{"unknown database engine", "dev", map[string]string{"webstack:database": `{"engine": "oracle"}`},
			[]string{`webstack:database.engine = "oracle": must be postgres or mysql`}},
		{"engine version the family table lacks", "dev", map[string]string{"webstack:database": `{"engine": "mysql", "engineVersion": "5.7"}`},
			[]string{`webstack:database.engineVersion = "5.7": must be a mysql major version: 8.0, 8.4`}},
		{"full engine version with automatic minor upgrades", "dev", map[string]string{"webstack:database": `{"engineVersion": "16.4"}`},
			[]string{`webstack:database.engineVersion = "16.4": must be the major version only (16): AWS applies minor upgrades itself`}},
		{"database log retention CloudWatch refuses", "dev", map[string]string{"webstack:database": `{"logRetentionDays": 10}`},
			[]string{`webstack:database.logRetentionDays = 10: must be one of 1, 3, 5, 7, 14, 30`}},
		{"backup retention above 35", "dev", map[string]string{"webstack:database": `{"backupRetentionDays": 40}`},
			[]string{`webstack:database.backupRetentionDays = 40: must be between 0 (no backups) and 35`}},
		{"storage below the engine's minimum", "dev", map[string]string{"webstack:database": `{"allocatedStorageGiB": 10}`},
			[]string{`webstack:database.allocatedStorageGiB = 10: must be between 20 and 65536 GiB (gp3 storage for postgres)`}},
		{"autoscaling ceiling below the storage", "staging", map[string]string{"webstack:database": `{"allocatedStorageGiB": 100, "maxAllocatedStorageGiB": 105}`},
			[]string{`webstack:database.maxAllocatedStorageGiB = 105: must be 0 (no autoscaling) or between 110`}},
		{"class not of the form db.*", "dev", map[string]string{"webstack:database": `{"instanceClass": "t3.micro"}`},
			[]string{`webstack:database.instanceClass = "t3.micro": must be an RDS instance class of the form db.<family>.<size>`}},
		{"final snapshot name RDS would refuse", "staging", map[string]string{"webstack:database": `{"finalSnapshotPrefix": "1-final--"}`},
			[]string{`webstack:database.finalSnapshotPrefix = "1-final--": must be 1 to 246 letters, digits or hyphens, start with a letter`}},
		{"maintenance overlapping backups", "dev", map[string]string{"webstack:database": `{"backupWindow": "04:00-05:00", "maintenanceWindow": "sun:04:30-sun:05:30"}`},
			[]string{`webstack:database.maintenanceWindow = "sun:04:30-sun:05:30": must not overlap the daily backup window 04:00-05:00`}},
		{"reserved database user", "dev", map[string]string{"webstack:database": `{"username": "rdsadmin"}`},
			[]string{`webstack:database.username = "rdsadmin": must be 1 to 63 letters, digits or underscores, start with a letter, and not start with rds`}},
		// Looked up at preview time (ec2.GetInstanceTypeOfferings, ec2.LookupVpcEndpointService), answered offline by the mocks.
		{"instance type no zone offers", "dev", map[string]string{"webstack:web": `{"instanceType": "t4g.huge"}`},
			[]string{`webstack:web.instanceType = "t4g.huge": is offered in no available zone of region us-east-1`}},
		{"instance type of a family that does not exist", "dev", map[string]string{"webstack:loadBalancer": `{"instanceType": "tg4.small"}`},
			[]string{`webstack:loadBalancer.instanceType = "tg4.small": is offered in no available zone`}},
		{"instance type whose architecture the name hides", "dev", map[string]string{"webstack:app": `{"instanceType": "mac2.metal"}`},
			[]string{`webstack:app.instanceType = "mac2.metal": runs arm64_mac (ec2 DescribeInstanceTypes), not x86_64`}},
		// RDS's own offer, looked up at preview time.
		{"database class RDS does not offer", "dev", map[string]string{"webstack:database": `{"instanceClass": "db.t4g.huge"}`},
			[]string{`webstack:database.instanceClass = "db.t4g.huge": RDS in us-east-1 does not offer this class for postgres 16.8 with gp3 storage`}},
		{"engine version RDS no longer has", "dev", map[string]string{"webstack:database": `{"engineVersion": "13"}`},
			[]string{`webstack:database.engineVersion = "13": RDS in us-east-1 has no postgres 13 (parameter group family postgres13)`}},
		{"interface endpoint service that does not exist", "dev", map[string]string{"webstack:network": `{"zoneIds": ["use1-az1", "use1-az2"], "interfaceEndpoints": ["autoscaling", "ec2", "logs", "monitoring", "secretsmanager", "sms"]}`},
			[]string{`webstack:network.interfaceEndpoints[5] = "sms": region us-east-1 has no interface endpoint service com.amazonaws.us-east-1.sms`}},
		{"unknown environment", "dev", map[string]string{"webstack:environment": "qa"},
			[]string{`webstack:environment = "qa": must be dev (or unset) in stack dev`}},
		{"permissions boundary not a policy ARN", "prod", map[string]string{"webstack:permissionsBoundary": "webstack-ci-prod-boundary"},
			[]string{`webstack:permissionsBoundary = "webstack-ci-prod-boundary": must be an IAM managed policy ARN, arn:PARTITION:iam::ACCOUNT:policy/NAME`}},
		{"permissions boundary a role", "dev", map[string]string{"webstack:permissionsBoundary": "arn:aws:iam::123456789012:role/admin"},
			[]string{`webstack:permissionsBoundary = "arn:aws:iam::123456789012:role/admin": must be an IAM managed policy ARN`}},
		{"permissions boundary of another account", "staging", map[string]string{"webstack:permissionsBoundary": "arn:aws:iam::999999999999:policy/webstack-ci-staging-boundary"},
			[]string{`webstack:permissionsBoundary = "arn:aws:iam::999999999999:policy/webstack-ci-staging-boundary": must be a policy of this stack's account, arn:aws:iam::`}},
		{"permissions boundary of another partition", "staging", map[string]string{"webstack:permissionsBoundary": "arn:aws-cn:iam::123456789012:policy/b"},
			[]string{`webstack:permissionsBoundary = "arn:aws-cn:iam::123456789012:policy/b": must be a policy of this stack's account`}},
		{"typo in a setting", "dev", map[string]string{"webstack:web": `{"cout": 2}`},
			[]string{`webstack:web.cout = 2: unknown setting; allowed: ami, desired, instanceType, max, min, port, rootVolumeGiB, scaling`}},
		{"wrong type", "dev", map[string]string{"webstack:database": `{"multiAz": "yes"}`},
			[]string{`webstack:database.multiAz = "yes": must be true or false`}},
		{"reserved tag", "dev", map[string]string{"webstack:tags": `{"aws:team": "x", "Environment": "test"}`},
			[]string{`webstack:tags.aws:team = "x": keys starting with aws: are reserved by AWS`, `webstack:tags.Environment = "test": is set by webstack`}},
		{"no region", "dev", map[string]string{"aws:region": ""},
			[]string{`aws:region = (not set): must be set`}},
		{"prod on one NAT gateway", "prod", map[string]string{"webstack:network": `{"natGateways": "single"}`},
			[]string{`webstack:network.natGateways = "single": prod must not depend on one AZ's NAT gateway`}},
		{"prod with one web server", "prod", map[string]string{"webstack:web": `{"min": 1, "max": 2, "desired": 1}`},
			[]string{`webstack:web.min = 1: prod keeps at least 2 web servers`}},
		{"prod database without Multi-AZ or protection", "prod", map[string]string{"webstack:database": `{"multiAz": false, "deletionProtection": false, "skipFinalSnapshot": true, "protect": false, "backupRetentionDays": 7}`},
			[]string{
				`webstack:database.multiAz = false: prod needs a Multi-AZ database`,
				`webstack:database.deletionProtection = false: prod needs deletion protection`,
				`webstack:database.skipFinalSnapshot = true: prod needs a final snapshot`,
				`webstack:database.protect = false: prod needs Pulumi's protect`,
				`webstack:database.backupRetentionDays = 7: prod keeps backups at least 14 days`,
			}},
		{"staging with one day of backups", "staging", map[string]string{"webstack:database": `{"backupRetentionDays": 1}`},
			[]string{`webstack:database.backupRetentionDays = 1: staging keeps backups at least 7 days`}},
		{"every problem at once", "dev", map[string]string{
			"webstack:network": `{"cidr": "10.0.0.0/8", "natGateways": "many"}`,
			"webstack:web":     `{"min": 0, "desired": 0, "port": 99999}`,
			"webstack:app":     `{"instanceType": "huge"}`,
		}, []string{
			`webstack:network.cidr = "10.0.0.0/8"`, `webstack:network.natGateways = "many"`,
			`webstack:web.min = 0`, `webstack:web.port = 99999`, `webstack:app.instanceType = "huge"`,
			"(5 problems, nothing was created)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := runStack(t, tc.stack, tc.override)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got:\n%v", want, err)
				}
			}
			if n := rec.Count(); n != 0 {
				t.Errorf("%d resources registered before the error", n)
			}
		})
	}
}
