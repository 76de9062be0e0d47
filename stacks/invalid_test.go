package stacks_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// loadThenRegister is a program that loads the settings and, only if they
// are accepted, registers a resource: a refused stack registers nothing.
func loadThenRegister(ctx *pulumi.Context) error {
	if _, err := stacks.Load(ctx); err != nil {
		return err
	}
	_, err := random.NewRandomId(ctx, "accepted", &random.RandomIdArgs{ByteLength: pulumi.Int(4)})
	return err
}

// runStackFile runs loadThenRegister on a committed stack file with some
// keys replaced ("" deletes one), as pulumi up would read it.
func runStackFile(t *testing.T, stack string, override map[string]string, secrets ...string) (*mocks.Recorder, error) {
	t.Helper()
	opts, err := mocks.StackOptions("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range override {
		if v == "" {
			delete(opts.Config, k)
			continue
		}
		opts.Config[k] = v
	}
	opts.Secrets = append(opts.Secrets, secrets...)
	return mocks.Run(loadThenRegister, opts)
}

// artifactFile writes a file for app.artifact inside the project (the
// package directory, where the test runs) and returns its relative path.
func artifactFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	dir, err := os.MkdirTemp(".", "artifact-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

type badStack struct {
	name     string
	stack    string
	override map[string]string
	want     []string // substrings of the error, the first naming the key
}

func net(v string) map[string]string  { return map[string]string{"webstack:network": v} }
func lb(v string) map[string]string   { return map[string]string{"webstack:loadBalancer": v} }
func web(v string) map[string]string  { return map[string]string{"webstack:web": v} }
func app(v string) map[string]string  { return map[string]string{"webstack:app": v} }
func db(v string) map[string]string   { return map[string]string{"webstack:database": v} }
func dns(v string) map[string]string  { return map[string]string{"webstack:dns": v} }
func ops(v string) map[string]string  { return map[string]string{"webstack:operators": v} }
func tags(v string) map[string]string { return map[string]string{"webstack:tags": v} }
func kv(k, v string) map[string]string {
	return map[string]string{k: v}
}

// badStacks are stack files a careless user or an attacker could write;
// each must be refused before anything is registered, naming the key.
func badStacks(t *testing.T) []badStack {
	x86, err := os.ReadFile("/proc/self/exe") // the test binary: ELF for this machine
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(outside, x86, 0o755); err != nil {
		t.Fatal(err)
	}
	elfArch := "EM_X86_64"
	archOfHosts := "t4g.small" // arm64: the test binary is not for it
	if strings.Contains(string(x86[18:19]), "\xb7") {
		elfArch, archOfHosts = "EM_AARCH64", "t3.small"
	}
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
	return []badStack{
		// Unknown keys.
		{"typo in a top-level key", "dev", kv("webstack:databse", `{"multiAz": true}`), []string{"webstack:databse = (not set): unknown setting, the program would ignore it; did you mean webstack:database?"}},
		{"mis-cased loadbalancer", "prod", kv("webstack:loadbalancer", `{"allowedCidrs": ["203.0.113.0/24"]}`), []string{"webstack:loadbalancer", "did you mean webstack:loadBalancer?"}},
		{"flat dotted key", "dev", kv("webstack:web.count", "2"), []string{"webstack:web.count", "is not a key: count is a field of the object webstack:web; set it with pulumi config set --path 'webstack:web.count'"}},
		{"flat dotted key of a known field", "staging", kv("webstack:database.multiAz", "true"), []string{"webstack:database.multiAz", "pulumi config set --path"}},
		{"unrelated key", "dev", kv("webstack:foo", "bar"), []string{"webstack:foo", "unknown setting, the program would ignore it; known keys: environment"}},
		{"plural typo", "dev", kv("webstack:tag", `{"a": "b"}`), []string{"webstack:tag", "did you mean webstack:tags?"}},
		{"operator typo", "prod", kv("webstack:operator", `{"deploy": ["root"]}`), []string{"webstack:operator", "did you mean webstack:operators?"}},
		{"region in the project namespace", "dev", kv("webstack:region", "eu-west-1"), []string{"webstack:region", "unknown setting"}},
		{"environment typo", "prod", kv("webstack:enviroment", "dev"), []string{"webstack:enviroment", "did you mean webstack:environment?"}},
		{"nested typo", "dev", web(`{"desird": 2}`), []string{`webstack:web.desird = 2: unknown setting; did you mean desired?`}},
		{"nested mis-case", "dev", lb(`{"allowedCIDRs": ["10.0.0.0/8"]}`), []string{`webstack:loadBalancer.allowedCIDRs`, "did you mean allowedCidrs?"}},
		{"nested in scaling", "prod", web(`{"min": 3, "max": 6, "desired": 3, "scaling": {"metric": "cpu", "targt": 50}}`), []string{"webstack:web.scaling", "targt"}},
		{"zones by name", "dev", net(`{"availabilityZones": ["us-east-1a"]}`), []string{"webstack:network.availabilityZones", "is replaced by network.zoneIds"}},
		{"count is gone", "dev", app(`{"count": 3}`), []string{"webstack:app.count = 3: replaced by the tier's Auto Scaling group"}},
		{"password in the database", "dev", db(`{"password": "hunter2hunter2"}`), []string{"webstack:database.password = (hidden", "unknown setting"}},
		// The environment follows the stack.
		{"prod says dev", "prod", kv("webstack:environment", "dev"), []string{`webstack:environment = "dev": must be prod (or unset) in stack prod`}},
		{"prod says staging", "prod", kv("webstack:environment", "staging"), []string{`webstack:environment = "staging": must be prod`}},
		{"staging says dev", "staging", kv("webstack:environment", "dev"), []string{`webstack:environment = "dev": must be staging`}},
		{"dev says prod", "dev", kv("webstack:environment", "prod"), []string{`webstack:environment = "prod": must be dev`}},
		{"unknown environment", "dev", kv("webstack:environment", "qa"), []string{`webstack:environment = "qa"`}},
		{"mis-cased environment", "prod", kv("webstack:environment", "Prod"), []string{`webstack:environment = "Prod"`}},
		// Types.
		{"object is a string", "dev", net(`"10.0.0.0/16"`), []string{"webstack:network", "must be an object"}},
		{"object is a list", "dev", web(`[1, 2]`), []string{"webstack:web", "must be an object"}},
		{"number as string", "dev", web(`{"desired": "2"}`), []string{`webstack:web.desired = "2": must be a whole number`}},
		{"fractional number", "dev", web(`{"desired": 1.5}`), []string{"webstack:web.desired = 1.5: must be a whole number"}},
		{"bool as string", "dev", db(`{"multiAz": "yes"}`), []string{`webstack:database.multiAz = "yes": must be true or false`}},
		{"list as string", "dev", lb(`{"allowedCidrs": "0.0.0.0/0"}`), []string{"webstack:loadBalancer.allowedCidrs", "must be a list of strings"}},
		{"null field", "dev", db(`{"name": null}`), []string{"webstack:database.name = null", "must be a string"}},
		{"tags not strings", "dev", tags(`{"team": 7}`), []string{"webstack:tags.team = 7: must be a string"}},
		{"scaling a string", "prod", web(`{"scaling": "cpu"}`), []string{"webstack:web.scaling", "must be an object"}},
		{"region a list", "dev", kv("aws:region", `["us-east-1"]`), []string{`aws:region = "[\"us-east-1\"]": must be an AWS region name such as us-east-1 (a plain string, not a list)`}},
		{"no region", "dev", kv("aws:region", ""), []string{"aws:region = (not set): must be set"}},
		{"region misspelt", "dev", kv("aws:region", "us-east"), []string{`aws:region = "us-east"`}},
		{"China region", "dev", kv("aws:region", "cn-north-1"), []string{`aws:region = "cn-north-1": is in the aws-cn partition, which webstack does not support`}},
		{"isolated region", "dev", kv("aws:region", "us-iso-east-1"), []string{`aws:region = "us-iso-east-1": is in the aws-iso partition`}},
		// Network.
		{"cidr malformed", "dev", net(`{"cidr": "10.0.0.0/33"}`), []string{`webstack:network.cidr = "10.0.0.0/33"`}},
		{"cidr IPv6", "dev", net(`{"cidr": "fd00::/48"}`), []string{`webstack:network.cidr = "fd00::/48": must be an IPv4 CIDR`}},
		{"cidr too small", "dev", net(`{"cidr": "10.0.0.0/24"}`), []string{`webstack:network.cidr = "10.0.0.0/24": must be between /16 and /22`}},
		{"cidr too large", "dev", net(`{"cidr": "10.0.0.0/8"}`), []string{`webstack:network.cidr = "10.0.0.0/8": must be between /16 and /22`}},
		{"cidr host bits", "dev", net(`{"cidr": "10.1.2.0/16"}`), []string{`webstack:network.cidr = "10.1.2.0/16": has host bits set`}},
		{"cidr public", "dev", net(`{"cidr": "8.8.0.0/16"}`), []string{`webstack:network.cidr = "8.8.0.0/16": must be a private range`}},
		{"one zone", "dev", net(`{"zoneIds": ["use1-az1"]}`), []string{"webstack:network.zoneIds", "at least 2"}},
		{"nine zones", "dev", net(`{"zoneIds": ["use1-az1","use1-az2","use1-az3","use1-az4","use1-az5","use1-az6","use1-az7","use1-az8","use1-az9"]}`), []string{"webstack:network.zoneIds", "at most 8"}},
		{"zone twice", "dev", net(`{"zoneIds": ["use1-az1", "use1-az1"]}`), []string{`webstack:network.zoneIds[1] = "use1-az1": is listed twice`}},
		{"zone name", "dev", net(`{"zoneIds": ["use1-az1", "us-east-1b"]}`), []string{`webstack:network.zoneIds[1] = "us-east-1b": must be an availability zone ID`}},
		{"zone injection", "dev", net(`{"zoneIds": ["use1-az1", "use1-az2; rm -rf /"]}`), []string{`webstack:network.zoneIds[1]`}},
		{"NAT unknown", "dev", net(`{"natGateways": "double"}`), []string{`webstack:network.natGateways = "double"`}},
		{"NAT mis-cased", "dev", net(`{"natGateways": "perAZ"}`), []string{`webstack:network.natGateways = "perAZ"`}},
		{"flow logs 10 days", "dev", net(`{"flowLogRetentionDays": 10}`), []string{"webstack:network.flowLogRetentionDays = 10"}},
		{"flow logs never expire", "dev", net(`{"flowLogRetentionDays": 0}`), []string{"webstack:network.flowLogRetentionDays = 0"}},
		{"endpoints without ec2", "dev", net(`{"interfaceEndpoints": ["autoscaling", "secretsmanager"]}`), []string{"webstack:network.interfaceEndpoints", `must include "ec2"`}},
		{"endpoints empty", "dev", net(`{"interfaceEndpoints": []}`), []string{"webstack:network.interfaceEndpoints", `must include "autoscaling"`}},
		{"endpoint twice", "dev", net(`{"interfaceEndpoints": ["autoscaling", "ec2", "secretsmanager", "ec2"]}`), []string{`webstack:network.interfaceEndpoints[3] = "ec2": is listed twice`}},
		{"endpoint full name", "dev", net(`{"interfaceEndpoints": ["autoscaling", "ec2", "secretsmanager", "com.amazonaws.us-east-1.ssm"]}`), []string{`webstack:network.interfaceEndpoints[3]`}},
		{"endpoint injection", "dev", net(`{"interfaceEndpoints": ["autoscaling", "ec2", "secretsmanager", "ssm\"; drop"]}`), []string{"webstack:network.interfaceEndpoints[3]", "must be a service's short name"}},
		// Load balancers.
		{"client CIDR host bits", "dev", lb(`{"allowedCidrs": ["203.0.113.7/24"]}`), []string{`webstack:loadBalancer.allowedCidrs[0] = "203.0.113.7/24"`}},
		{"client CIDR not a CIDR", "dev", lb(`{"allowedCidrs": ["office"]}`), []string{`webstack:loadBalancer.allowedCidrs[0] = "office"`}},
		{"client CIDR IPv6 in the IPv4 list", "dev", lb(`{"allowedCidrs": ["::/0"]}`), []string{`webstack:loadBalancer.allowedCidrs[0] = "::/0"`}},
		{"client CIDR twice", "dev", lb(`{"allowedCidrs": ["203.0.113.0/24", "203.0.113.0/24"]}`), []string{`webstack:loadBalancer.allowedCidrs[1] = "203.0.113.0/24": is listed twice (also allowedCidrs[0])`}},
		{"client CIDR inside another", "dev", lb(`{"allowedCidrs": ["203.0.113.0/24", "203.0.113.128/25"]}`), []string{`webstack:loadBalancer.allowedCidrs[1] = "203.0.113.128/25": lies inside allowedCidrs[0] = 203.0.113.0/24`}},
		{"client CIDR containing another", "dev", lb(`{"allowedCidrs": ["198.51.100.0/25", "0.0.0.0/0"]}`), []string{`webstack:loadBalancer.allowedCidrs[1] = "0.0.0.0/0": contains allowedCidrs[0] = 198.51.100.0/25`}},
		{"no client", "dev", lb(`{"allowedCidrs": []}`), []string{"webstack:loadBalancer.allowedCidrs = []: no client could reach the site"}},
		{"only IPv6 clients", "dev", lb(`{"allowedCidrs": [], "allowedIpv6Cidrs": ["::/0"]}`), []string{"webstack:loadBalancer.allowedIpv6Cidrs", "must be empty", "webstack:loadBalancer.allowedCidrs = []"}},
		{"IPv6 clients", "prod", lb(`{"allowedIpv6Cidrs": ["2001:db8::/32"]}`), []string{"webstack:loadBalancer.allowedIpv6Cidrs", "IPv4 only"}},
		{"certificate secret is the database's", "prod", lb(`{"certificateSecret": "database-credentials-a1b2c3d"}`), []string{"webstack:loadBalancer.certificateSecret", "names a secret the program makes itself (database-credentials, lb-secrets)"}},
		{"certificate secret ARN of the database's", "prod", lb(`{"certificateSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:database-credentials-a1b2c3d-XyZ123"}`), []string{"webstack:loadBalancer.certificateSecret", "names a secret the program makes itself"}},
		{"certificate secret is the load balancers' passwords", "prod", lb(`{"certificateSecret": "lb-secrets-1234567"}`), []string{"webstack:loadBalancer.certificateSecret", "names a secret the program makes itself"}},
		{"certificate secret is a PEM", "dev", lb(`{"certificateSecret": "` + strings.ReplaceAll(pem, "\n", `\n`) + `"}`), []string{"webstack:loadBalancer.certificateSecret = (hidden"}},
		{"certificate secret injection", "dev", lb(`{"certificateSecret": "x$(curl evil)"}`), []string{"webstack:loadBalancer.certificateSecret", "must be a Secrets Manager secret"}},
		{"certificate secret of another partition", "dev", lb(`{"certificateSecret": "arn:aws-mars:secretsmanager:us-east-1:123456789012:secret:x"}`), []string{"webstack:loadBalancer.certificateSecret"}},
		// Hosts.
		{"instance type malformed", "dev", lb(`{"instanceType": "t4g"}`), []string{`webstack:loadBalancer.instanceType = "t4g"`}},
		{"instance type empty", "dev", web(`{"instanceType": ""}`), []string{`webstack:web.instanceType = ""`}},
		{"instance type injection", "dev", app(`{"instanceType": "t4g.small\nrunuser"}`), []string{"webstack:app.instanceType"}},
		{"AMI malformed", "dev", app(`{"ami": "ubuntu"}`), []string{`webstack:app.ami = "ubuntu": must be an image id`}},
		{"AMI short", "dev", web(`{"ami": "ami-123"}`), []string{`webstack:web.ami = "ami-123"`}},
		{"root volume 4", "dev", web(`{"rootVolumeGiB": 4}`), []string{"webstack:web.rootVolumeGiB = 4: must be between 8"}},
		{"root volume huge", "dev", lb(`{"rootVolumeGiB": 20000}`), []string{"webstack:loadBalancer.rootVolumeGiB = 20000"}},
		{"web min 0", "dev", web(`{"min": 0, "desired": 0}`), []string{"webstack:web.min = 0"}},
		{"app min negative", "dev", app(`{"min": -1}`), []string{"webstack:app.min = -1"}},
		{"web max 21", "staging", web(`{"max": 21}`), []string{"webstack:web.max = 21"}},
		{"app max below min", "dev", app(`{"min": 3, "max": 2, "desired": 2}`), []string{"webstack:app.max = 2: must be at least min (3)"}},
		{"desired above max", "staging", web(`{"desired": 5}`), []string{"webstack:web.desired = 5"}},
		{"desired below min", "staging", app(`{"desired": 1}`), []string{"webstack:app.desired = 1"}},
		{"scaling metric unknown", "prod", web(`{"scaling": {"metric": "requests"}}`), []string{`webstack:web.scaling.metric = "requests"`}},
		{"scaling target 5", "prod", app(`{"scaling": {"metric": "cpu", "target": 5}}`), []string{"webstack:app.scaling.target = 5"}},
		{"scaling target 100", "prod", web(`{"scaling": {"metric": "cpu", "target": 100}}`), []string{"webstack:web.scaling.target = 100"}},
		{"web port 0", "dev", web(`{"port": 0}`), []string{"webstack:web.port = 0"}},
		{"app port 70000", "dev", app(`{"port": 70000}`), []string{"webstack:app.port = 70000"}},
		{"web port 22", "dev", web(`{"port": 22}`), []string{"webstack:web.port = 22: must not be 22, SSH's port"}},
		{"app port 22", "dev", app(`{"port": 22}`), []string{"webstack:app.port = 22: must not be 22"}},
		{"app port negative", "dev", app(`{"port": -80}`), []string{"webstack:app.port = -80"}},
		// The application artifact.
		{"artifact missing", "dev", app(`{"artifact": "bin/nothing-here"}`), []string{`webstack:app.artifact = "bin/nothing-here": must be the path of an existing executable file`}},
		{"artifact a directory", "dev", app(`{"artifact": "."}`), []string{`webstack:app.artifact = ".": must be the path of an existing executable file`}},
		{"artifact outside the project", "dev", app(`{"artifact": "` + outside + `"}`), []string{"webstack:app.artifact", "leads out of the project directory"}},
		{"artifact climbing out", "dev", app(`{"artifact": "../../../../../../etc/passwd"}`), []string{"webstack:app.artifact", "leads out of the project directory"}},
		{"artifact a text file", "dev", app(`{"artifact": "` + artifactFile(t, "app.sh", []byte("#!/bin/sh\necho hi\n")) + `"}`), []string{"webstack:app.artifact", "is not an ELF executable (18 bytes)"}},
		{"artifact empty", "dev", app(`{"artifact": "` + artifactFile(t, "app", nil) + `"}`), []string{"webstack:app.artifact", "is not an ELF executable (0 bytes)"}},
		{"artifact a private key", "dev", app(`{"artifact": "` + artifactFile(t, "key.pem", []byte(pem)) + `"}`), []string{"webstack:app.artifact", "is not an ELF executable"}},
		{"artifact of the wrong architecture", "dev", app(`{"instanceType": "` + archOfHosts + `", "artifact": "` + artifactFile(t, "app", x86) + `"}`), []string{"webstack:app.artifact", "is an executable for " + elfArch}},
		// Database.
		{"engine oracle", "dev", db(`{"engine": "oracle"}`), []string{`webstack:database.engine = "oracle"`}},
		{"engine mis-cased", "dev", db(`{"engine": "Postgres"}`), []string{`webstack:database.engine = "Postgres"`}},
		{"engine version unknown", "dev", db(`{"engineVersion": "9"}`), []string{`webstack:database.engineVersion = "9"`}},
		{"engine version of the other engine", "dev", db(`{"engine": "mysql"}`), []string{`webstack:database.engineVersion = "16": must be a mysql major version`}},
		{"engine version full", "dev", db(`{"engineVersion": "16.4"}`), []string{`webstack:database.engineVersion = "16.4": must be the major version only`}},
		{"engine version text", "dev", db(`{"engineVersion": "latest"}`), []string{`webstack:database.engineVersion = "latest"`}},
		{"class without db.", "dev", db(`{"instanceClass": "t3.micro"}`), []string{`webstack:database.instanceClass = "t3.micro"`}},
		{"class injection", "dev", db(`{"instanceClass": "db.t3.micro; DROP"}`), []string{"webstack:database.instanceClass"}},
		{"storage 10", "dev", db(`{"allocatedStorageGiB": 10}`), []string{"webstack:database.allocatedStorageGiB = 10"}},
		{"storage huge", "dev", db(`{"allocatedStorageGiB": 70000}`), []string{"webstack:database.allocatedStorageGiB = 70000"}},
		{"autoscaling ceiling too low", "staging", db(`{"allocatedStorageGiB": 100, "maxAllocatedStorageGiB": 105}`), []string{"webstack:database.maxAllocatedStorageGiB = 105"}},
		{"log retention 10", "dev", db(`{"logRetentionDays": 10}`), []string{"webstack:database.logRetentionDays = 10"}},
		{"backups 40 days", "dev", db(`{"backupRetentionDays": 40}`), []string{"webstack:database.backupRetentionDays = 40"}},
		{"backups negative", "dev", db(`{"backupRetentionDays": -1}`), []string{"webstack:database.backupRetentionDays = -1"}},
		{"backup window malformed", "dev", db(`{"backupWindow": "3-4"}`), []string{`webstack:database.backupWindow = "3-4"`}},
		{"backup window too short", "dev", db(`{"backupWindow": "03:00-03:10"}`), []string{`webstack:database.backupWindow = "03:00-03:10"`}},
		{"maintenance window malformed", "dev", db(`{"maintenanceWindow": "sunday"}`), []string{`webstack:database.maintenanceWindow = "sunday"`}},
		{"maintenance overlapping backups", "dev", db(`{"backupWindow": "04:00-05:00"}`), []string{`webstack:database.maintenanceWindow = "sun:04:30-sun:05:30": must not overlap`}},
		{"snapshot prefix digit", "staging", db(`{"finalSnapshotPrefix": "1-final"}`), []string{`webstack:database.finalSnapshotPrefix = "1-final"`}},
		{"snapshot prefix double hyphen", "staging", db(`{"finalSnapshotPrefix": "final--x"}`), []string{`webstack:database.finalSnapshotPrefix = "final--x"`}},
		{"database name template1", "dev", db(`{"name": "template1"}`), []string{`webstack:database.name = "template1"`}},
		{"database name injection", "dev", db(`{"name": "x; DROP TABLE users"}`), []string{"webstack:database.name"}},
		{"username rds prefix", "dev", db(`{"username": "rdsadmin"}`), []string{`webstack:database.username = "rdsadmin"`}},
		{"username postgres", "dev", db(`{"username": "postgres"}`), []string{`webstack:database.username = "postgres": is reserved by postgres`}},
		{"username admin on postgres", "dev", db(`{"username": "admin"}`), []string{`webstack:database.username = "admin": is reserved by postgres`}},
		{"username user", "dev", db(`{"username": "User"}`), []string{`webstack:database.username = "User": is reserved`}},
		{"username root on mysql", "dev", db(`{"engine": "mysql", "engineVersion": "8.0", "username": "root"}`), []string{`webstack:database.username = "root": is reserved by mysql`}},
		{"username too long on mysql", "dev", db(`{"engine": "mysql", "engineVersion": "8.0", "username": "` + strings.Repeat("u", 33) + `"}`), []string{"webstack:database.username", "1 to 32"}},
		{"port privileged", "dev", db(`{"port": 80}`), []string{"webstack:database.port = 80"}},
		// DNS.
		{"domain with www", "dev", dns(`{"domain": "www.foobar.com"}`), []string{`webstack:dns.domain = "www.foobar.com": must not start with www.`}},
		{"domain upper case", "dev", dns(`{"domain": "Foobar.com"}`), []string{`webstack:dns.domain = "Foobar.com"`}},
		{"domain one label", "dev", dns(`{"domain": "localhost"}`), []string{`webstack:dns.domain = "localhost"`}},
		{"domain a URL", "dev", dns(`{"domain": "https://foobar.com/"}`), []string{`webstack:dns.domain = "https://foobar.com/"`}},
		{"domain injection", "dev", dns(`{"domain": "foobar.com\nserver evil"}`), []string{"webstack:dns.domain"}},
		{"hosted zone malformed", "dev", dns(`{"hostedZoneId": "/hostedzone/Z123"}`), []string{`webstack:dns.hostedZoneId = "/hostedzone/Z123"`}},
		{"staging writing prod's record", "staging", dns(`{"hostedZoneId": "Z0123456789ABCDEFGHIJ"}`), []string{`webstack:dns.domain = "foobar.com": a staging stack that writes a DNS record`}},
		// Operators and boundary.
		{"operator not a principal", "prod", ops(`{"deploy": ["deployer"]}`), []string{`webstack:operators.deploy[0] = "deployer"`}},
		{"operator an S3 ARN", "prod", ops(`{"preview": ["arn:aws:s3:::bucket"]}`), []string{`webstack:operators.preview[0]`}},
		{"boundary not an ARN", "prod", kv("webstack:permissionsBoundary", "webstack-ci-prod-boundary"), []string{`webstack:permissionsBoundary = "webstack-ci-prod-boundary"`}},
		{"boundary a role", "dev", kv("webstack:permissionsBoundary", "arn:aws:iam::123456789012:role/admin"), []string{"webstack:permissionsBoundary"}},
		// Tags.
		{"tag reserved", "dev", tags(`{"Environment": "test"}`), []string{`webstack:tags.Environment = "test": is set by webstack`}},
		{"tag aws:", "dev", tags(`{"aws:team": "x"}`), []string{`webstack:tags.aws:team = "x"`}},
		{"tag key bad", "dev", tags(`{"team!": "x"}`), []string{"webstack:tags.team!"}},
		{"tag value bad", "dev", tags(`{"team": "a;b"}`), []string{`webstack:tags.team = "a;b"`}},
		{"tag value long", "dev", tags(`{"team": "` + strings.Repeat("a", 300) + `"}`), []string{"webstack:tags.team", "(300 bytes)"}},
		// Prod and staging protections.
		{"prod single NAT", "prod", net(`{"natGateways": "single"}`), []string{`webstack:network.natGateways = "single": prod must not`}},
		{"prod one web server", "prod", web(`{"min": 1, "max": 2, "desired": 1}`), []string{"webstack:web.min = 1: prod keeps at least 2"}},
		{"prod one app server", "prod", app(`{"min": 1, "max": 2, "desired": 1}`), []string{"webstack:app.min = 1: prod keeps at least 2"}},
		{"prod single-AZ database", "prod", db(`{"multiAz": false}`), []string{"webstack:database.multiAz = false: prod needs"}},
		{"prod without deletion protection", "prod", db(`{"deletionProtection": false}`), []string{"webstack:database.deletionProtection = false"}},
		{"prod without final snapshot", "prod", db(`{"skipFinalSnapshot": true}`), []string{"webstack:database.skipFinalSnapshot = true"}},
		{"prod without protect", "prod", db(`{"protect": false}`), []string{"webstack:database.protect = false"}},
		{"prod one week of backups", "prod", db(`{"backupRetentionDays": 7}`), []string{"webstack:database.backupRetentionDays = 7: prod keeps backups at least 14"}},
		{"staging one day of backups", "staging", db(`{"backupRetentionDays": 1}`), []string{"webstack:database.backupRetentionDays = 1: staging keeps"}},
		{"prod relaxed through its environment", "prod", map[string]string{"webstack:environment": "dev", "webstack:database": `{"multiAz": false}`}, []string{`webstack:environment = "dev": must be prod`, "webstack:database.multiAz = false: prod needs"}},
		{"everything at once", "dev", map[string]string{"webstack:databse": "{}", "webstack:web": `{"min": 0, "desired": 0, "port": 99999}`, "webstack:app": `{"instanceType": "huge"}`},
			[]string{"webstack:databse", "webstack:web.min = 0", "webstack:web.port = 99999", `webstack:app.instanceType = "huge"`, "(4 problems, nothing was created)"}},
	}
}

// Every bad stack file is refused before anything is registered, with a
// message naming the key (and what is allowed).
func TestBadStackFilesAreRefused(t *testing.T) {
	cases := badStacks(t)
	if len(cases) < 120 {
		t.Fatalf("only %d bad stack files", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := runStackFile(t, tc.stack, tc.override)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got:\n%v", want, err)
				}
			}
			if n := rec.Count(); n != 0 {
				t.Errorf("%d resources registered", n)
			}
		})
	}
}

// The committed stacks, and a few variations of them, are accepted: the
// rules above refuse nothing a real stack needs.
func TestValidControlsAreAccepted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stack    string
		override map[string]string
	}{
		{"dev", "dev", nil}, {"staging", "staging", nil}, {"prod", "prod", nil},
		{"prod naming itself", "prod", kv("webstack:environment", "prod")},
		{"disjoint client blocks", "dev", lb(`{"allowedCidrs": ["203.0.113.0/25", "203.0.113.128/25", "198.51.100.0/24"]}`)},
		{"a certificate secret", "prod", lb(`{"certificateSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:site/pem-AbCdEf"}`)},
		{"GovCloud", "dev", kv("aws:region", "us-gov-west-1")},
		{"privileged app port (the service gets CAP_NET_BIND_SERVICE)", "dev", app(`{"port": 80}`)},
		{"mysql with its admin", "dev", db(`{"engine": "mysql", "engineVersion": "8.0", "username": "admin"}`)},
		{"a subdomain", "dev", dns(`{"domain": "dev.foobar.com"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := runStackFile(t, tc.stack, tc.override)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Count() != 1 {
				t.Errorf("%d resources registered, want the one the program registers once the settings are accepted", rec.Count())
			}
		})
	}
}

// A structured key set with --secret is refused whole, under pulumi up
// and offline alike: never decoded, never printed.
func TestSecureSettingsAreRefused(t *testing.T) {
	rec, err := runStackFile(t, "dev", db(`{"name": "ciphertext-nobody-should-see"}`), "webstack:database")
	if err == nil || !strings.Contains(err.Error(), "webstack:database = (hidden") || !strings.Contains(err.Error(), "is set with --secret") || strings.Contains(err.Error(), "nobody-should-see") {
		t.Errorf("error: %v", err)
	}
	if rec.Count() != 0 {
		t.Errorf("%d resources registered", rec.Count())
	}
}

// A key the program reads is known without a second list: every
// JSON-named field of Settings.
func TestEveryFieldOfSettingsIsAKnownKey(t *testing.T) {
	keys := stacks.ConfigKeys()
	for _, want := range []string{"environment", "permissionsBoundary", "network", "loadBalancer", "web", "app", "database", "dns", "operators", "tags"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("ConfigKeys() = %v lacks %s", keys, want)
		}
	}
	if p := stacks.CheckKeys("webstack", []string{"webstack:network", "aws:region", "other:x", "webstack:environment"}); len(p) != 0 {
		t.Errorf("known keys refused: %v", p)
	}
}

// A secure value nested in a structured key (database.password: {secure:
// …}) makes the whole key secret, as the CLI does: the offline run refuses
// it as pulumi up would, and prints no ciphertext.
func TestNestedSecureValuesAreRefusedOffline(t *testing.T) {
	opts := offlineStack(t, "  webstack:database:\n    password:\n      secure: v1:CIPHERTEXTnobodyShouldSee==\n")
	rec, err := mocks.Run(loadThenRegister, opts)
	if err == nil || !strings.Contains(err.Error(), "webstack:database = (hidden") || strings.Contains(err.Error(), "CIPHERTEXT") {
		t.Errorf("error: %v", err)
	}
	if rec.Count() != 0 {
		t.Errorf("%d resources registered", rec.Count())
	}
}

// offlineStack is what the offline plan reads of a dev stack file with the
// project's Pulumi.yaml, zones, and more config lines (YAML under config:).
func offlineStack(t *testing.T, config string) mocks.Options {
	t.Helper()
	dir := t.TempDir()
	project, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stack := "config:\n  aws:region: us-east-1\n  webstack:network:\n    zoneIds: [use1-az1, use1-az2]\n" + config
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte(stack), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := mocks.StackOptions(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// webstack:monitoring is the one key that may hold a secret (a webhook's
// token): offline, its encrypted values stand as OfflineSecret, the key is
// secret as a whole, the plan is made, and the ciphertext appears nowhere.
func TestSecretWebhookPreviewsOffline(t *testing.T) {
	opts := offlineStack(t, "  webstack:monitoring:\n    httpsEndpoints:\n      - secure: v1:CIPHERTEXTnobodyShouldSee==\n")
	if !slices.Contains(opts.Secrets, "webstack:monitoring") || strings.Contains(opts.Config["webstack:monitoring"], "CIPHERTEXT") ||
		!strings.Contains(opts.Config["webstack:monitoring"], stacks.OfflineSecret) {
		t.Fatalf("offline config: secrets %v, monitoring %s", opts.Secrets, opts.Config["webstack:monitoring"])
	}
	var loaded *stacks.Settings
	if _, err := mocks.Run(func(ctx *pulumi.Context) error {
		s, err := stacks.Load(ctx)
		loaded = s
		return err
	}, opts); err != nil {
		t.Fatal(err)
	}
	if got := loaded.Monitoring.HTTPSEndpoints; len(got) != 1 || got[0] != stacks.OfflineSecret {
		t.Errorf("httpsEndpoints = %v", got)
	}
}
