package mocks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// CloudOptions shapes the fabricated cloud.
type CloudOptions struct {
	// Region the provider is configured for (default us-east-1).
	Region string
	// Zones answers getAvailabilityZones (default: <region>a to <region>d).
	Zones []string
	// Images maps AMI ids to their architecture for getAmi; the AL2023
	// images getParameter returns are always known.
	Images map[string]string
	// Partition answers getPartition and names every ARN the cloud makes
	// (default aws; aws-cn and aws-us-gov for tests that check the
	// program never assumes the commercial partition).
	Partition string
	// CallerRole makes getCallerIdentity answer a session of this role
	// instead of the IAM user "mock" (Options.CallerRole).
	CallerRole string
}

// Cloud fabricates what AWS and the random provider answer: ids, ARNs,
// private addresses inside their subnets, endpoints, passwords, and the
// provider functions webstack calls. Answers are hashes of names, so they
// are the same on every run and machine. The mock monitor (Recorder) and
// the engine tests' fake providers (internal/engine) share it, so both see
// the same cloud.
type Cloud struct {
	opts CloudOptions

	mu      sync.Mutex
	subnets map[string]netip.Prefix // subnet id → CIDR
	usedIPs map[netip.Addr]bool
	// imageRelease, when set, is a newer Amazon Linux release: the latest
	// images getParameter returns change (drift, for the engine tests).
	imageRelease string
}

// NewCloud returns an empty cloud.
func NewCloud(opts CloudOptions) *Cloud {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Partition == "" {
		opts.Partition = "aws"
	}
	return &Cloud{opts: opts, subnets: map[string]netip.Prefix{}, usedIPs: map[netip.Addr]bool{}}
}

// SetCallerRole makes getCallerIdentity answer a session of role from now
// on ("" the IAM user "mock"): the engine runs each stack as its deploying
// operator.
func (c *Cloud) SetCallerRole(role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.CallerRole = role
}

// PublishImages makes AWS publish a new Amazon Linux release: from now on
// the latest-image parameters name other images.
func (c *Cloud) PublishImages(release string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.imageRelease = release
}

// fake returns a stable pseudo-random hex string for a name.
func fake(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])
}

// idPrefixes gives resources AWS-looking ids.
var idPrefixes = map[string]string{
	"aws:ec2/vpc:Vpc":                                           "vpc-",
	"aws:ec2/subnet:Subnet":                                     "subnet-",
	"aws:ec2/securityGroup:SecurityGroup":                       "sg-",
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         "sg-",
	"aws:ec2/instance:Instance":                                 "i-",
	"aws:ec2/eip:Eip":                                           "eipalloc-",
	"aws:ec2/natGateway:NatGateway":                             "nat-",
	"aws:ec2/internetGateway:InternetGateway":                   "igw-",
	"aws:ec2/routeTable:RouteTable":                             "rtb-",
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           "vpce-",
	"aws:ec2/flowLog:FlowLog":                                   "fl-",
	"aws:ec2/launchTemplate:LaunchTemplate":                     "lt-",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   "sgr-",
}

// Create adds to state (a new resource's inputs) the outputs AWS would
// compute and returns the resource's id.
func (c *Cloud) Create(typ, resName string, state resource.PropertyMap) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := struct{ Type, Name string }{typ, resName}
	region, h, partition := c.opts.Region, fake(res.Type, res.Name), c.opts.Partition
	id := res.Name + "-" + h[:8]
	if p, ok := idPrefixes[res.Type]; ok {
		id = p + h[:17]
	}
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string {
		if v, ok := state[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	service := strings.SplitN(strings.TrimPrefix(res.Type, "aws:"), "/", 2)[0]
	arn := fmt.Sprintf("arn:%s:%s:%s:%s:%s/%s", partition, service, region, AccountID, strings.ToLower(res.Name), id)

	switch res.Type {
	case "aws:ec2/vpc:Vpc":
		set("defaultSecurityGroupId", "sg-"+h[17:34])
		set("mainRouteTableId", "rtb-"+h[17:34])
	case "aws:ec2/subnet:Subnet":
		if p, err := netip.ParsePrefix(str("cidrBlock")); err == nil {
			c.subnets[id] = p
		}
	case "aws:ec2/instance:Instance":
		set("privateIp", c.privateIP(str("subnetId"), h).String())
		set("primaryNetworkInterfaceId", "eni-"+h[:17])
		set("arn", fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", partition, region, AccountID, id))
		return id
	case "aws:ec2/launchTemplate:LaunchTemplate":
		set("latestVersion", 1.0)
		set("defaultVersion", 1.0)
		set("arn", fmt.Sprintf("arn:%s:ec2:%s:%s:launch-template/%s", partition, region, AccountID, id))
		return id
	case "aws:autoscaling/group:Group":
		name := str("name")
		if name == "" {
			name = res.Name + "-" + h[:7]
		}
		set("name", name)
		set("arn", fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:%s-%s-%s-%s-%s:autoScalingGroupName/%s",
			partition, region, AccountID, h[:8], h[8:12], h[12:16], h[16:20], h[20:32], name))
		return name
	case "aws:ec2/eip:Eip":
		set("allocationId", id)
		set("publicIp", fmt.Sprintf("203.0.113.%d", 1+int(h[0])%250))
		set("arn", fmt.Sprintf("arn:%s:ec2:%s:%s:elastic-ip/%s", partition, region, AccountID, id))
		return id
	case "aws:rds/instance:Instance":
		ident := str("identifier")
		if ident == "" {
			ident = res.Name + "-" + h[:7]
		}
		port := 5432.0
		if v, ok := state["port"]; ok && v.IsNumber() {
			port = v.NumberValue()
		} else if strings.HasPrefix(str("engine"), "mysql") {
			port = 3306
		}
		addr := fmt.Sprintf("%s.c%s.%s.rds.amazonaws.com", ident, h[:12], region)
		set("identifier", ident)
		set("address", addr)
		set("port", port)
		set("endpoint", fmt.Sprintf("%s:%d", addr, int(port)))
		set("arn", fmt.Sprintf("arn:%s:rds:%s:%s:db:%s", partition, region, AccountID, ident))
		set("resourceId", "db-"+strings.ToUpper(h[:26]))
		return id
	case "aws:secretsmanager/secret:Secret":
		arn = fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-%s", partition, region, AccountID, res.Name, h[:6])
		set("arn", arn)
		return arn
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile", "aws:iam/policy:Policy":
		kind := strings.ToLower(strings.Split(res.Type, ":")[2][:1]) + strings.Split(res.Type, ":")[2][1:]
		name := res.Name + "-" + h[:7]
		set("name", name)
		set("arn", fmt.Sprintf("arn:%s:iam::%s:%s/%s", partition, AccountID, kind, name))
		return name
	case "aws:s3/bucketV2:BucketV2":
		name := str("bucket")
		if name == "" {
			name = res.Name + "-" + h[:7]
		}
		set("bucket", name)
		set("arn", "arn:"+partition+":s3:::"+name)
		set("bucketRegionalDomainName", name+".s3."+region+".amazonaws.com")
		return name
	case "aws:cloudwatch/logGroup:LogGroup":
		name := res.Name + "-" + h[:7]
		if n := str("name"); n != "" {
			name = n
		}
		set("name", name)
		set("arn", fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, region, AccountID, name))
		return name
	case "aws:ec2/vpcEndpoint:VpcEndpoint":
		if str("vpcEndpointType") == "Gateway" {
			set("prefixListId", "pl-"+h[:8])
		}
	case "aws:route53/record:Record":
		set("fqdn", str("name"))
	case "random:index/randomPassword:RandomPassword":
		n := 32
		if v, ok := state["length"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		pw := ("Mock" + h + h)[:n]
		set("result", pw)
		set("bcryptHash", "$2a$10$"+h[:53])
	case "random:index/randomBytes:RandomBytes":
		n := 32
		if v, ok := state["length"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		b := make([]byte, 0, n)
		for seed := h; len(b) < n; seed = fake(seed) {
			raw, _ := hex.DecodeString(seed)
			b = append(b, raw...)
		}
		b = b[:n]
		set("hex", hex.EncodeToString(b))
		set("base64", base64.StdEncoding.EncodeToString(b))
	case "aws:ssm/parameter:Parameter":
		// The first version; the engine's fake provider counts updates.
		set("version", 1)
		set("arn", fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", region, AccountID, str("name")))
	case "random:index/randomId:RandomId":
		n := 8
		if v, ok := state["byteLength"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		set("hex", h[:2*n])
		set("dec", fmt.Sprint(binary.BigEndian.Uint32([]byte(h[:4]))))
		set("b64Url", h[:n])
		set("b64Std", h[:n])
	}
	if strings.HasPrefix(res.Type, "aws:") {
		if _, ok := state["arn"]; !ok {
			set("arn", arn)
		}
		// The provider auto-names resources whose name is not given.
		if _, ok := state["name"]; !ok {
			set("name", res.Name+"-"+h[:7])
		}
	}
	return id
}

// privateIP picks a stable address for an instance inside its subnet,
// skipping AWS's reserved first four and last addresses.
func (c *Cloud) privateIP(subnetID, h string) netip.Addr {
	p, ok := c.subnets[subnetID]
	if !ok {
		p = netip.MustParsePrefix("10.255.0.0/16")
	}
	size := uint32(1) << (32 - p.Bits())
	base := p.Addr().As4()
	start := binary.BigEndian.Uint32(base[:])
	seed := binary.BigEndian.Uint32([]byte(h[:4]))
	for i := uint32(0); ; i++ {
		off := 4 + (seed+i)%(size-5)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], start+off)
		a := netip.AddrFrom4(b)
		if !c.usedIPs[a] {
			c.usedIPs[a] = true
			return a
		}
	}
}

// The fake RDS: the families whose default version it knows (those of
// database.EngineVersions but PostgreSQL 13, past its end of standard
// support in 2026), and the instance classes it offers.
var (
	rdsFamilies = map[string]string{
		"postgres14": "14.17", "postgres15": "15.12", "postgres16": "16.8", "postgres17": "17.4",
		"mysql8.0": "8.0.41", "mysql8.4": "8.4.4",
	}
	rdsClassRe       = regexp.MustCompile(`^db\.([a-z0-9]+)\.([a-z0-9]+)$`)
	rdsClassFamilies = []string{"t3", "t4g", "m5", "m6g", "m6i", "m7g", "r5", "r6g", "r6i", "r7g"}
	rdsClassSizes    = map[string][]string{
		"t": {"micro", "small", "medium", "large", "xlarge", "2xlarge"},
		"m": {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"},
		"r": {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"},
	}
)

// Invoke answers the provider functions webstack uses; any other is an
// error, so a test notices a new lookup.
func (c *Cloud) Invoke(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
	c.mu.Lock()
	release := c.imageRelease
	c.mu.Unlock()
	region := c.opts.Region
	get := func(k string) string {
		if v, ok := args[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		zones := c.opts.Zones
		if zones == nil {
			zones = []string{region + "a", region + "b", region + "c", region + "d"}
		}
		ids := make([]string, len(zones))
		for i, z := range zones {
			ids[i] = zoneID(z)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": region, "names": zones, "zoneIds": ids}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		// Every zone offers every type, except that use1-az3 (as in
		// us-east-1) offers no Graviton (t4g) instances.
		var types, locs []string
		if fs, ok := args["filters"]; ok && fs.IsArray() {
			for _, f := range fs.ArrayValue() {
				var vals []string
				for _, v := range f.ObjectValue()["values"].ArrayValue() {
					vals = append(vals, v.StringValue())
				}
				switch f.ObjectValue()["name"].StringValue() {
				case "instance-type":
					types = vals
				case "location":
					locs = vals
				}
			}
		}
		var outTypes, outLocs, outLocTypes []string
		for _, l := range locs {
			for _, t := range types {
				if !instanceTypeRe.MatchString(t) {
					continue // not an instance type: no zone offers it
				}
				if l == "use1-az3" && strings.HasPrefix(t, "t4g.") {
					continue
				}
				outTypes, outLocs, outLocTypes = append(outTypes, t), append(outLocs, l), append(outLocTypes, "availability-zone-id")
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": region, "instanceTypes": outTypes, "locations": outLocs, "locationTypes": outLocTypes}), nil
	case "aws:ec2/getInstanceType:getInstanceType":
		// The architecture AWS reports: what the name says, except for
		// the families whose name misleads (mac2 is Apple silicon).
		t := get("instanceType")
		if !instanceTypeRe.MatchString(t) {
			return nil, fmt.Errorf("InvalidInstanceType: The following supplied instance types do not exist: [%s]", t)
		}
		arch := "x86_64"
		switch {
		case strings.HasPrefix(t, "mac2"):
			arch = "arm64_mac"
		case strings.HasPrefix(t, "mac1"):
			arch = "x86_64_mac"
		case t[:2] == "a1" || gravitonFamilyRe.MatchString(t):
			arch = "arm64"
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": t, "instanceType": t, "supportedArchitectures": []any{arch}}), nil
	case "aws:rds/getEngineVersion:getEngineVersion":
		// The region's default version of a parameter group family.
		family := get("parameterGroupFamily")
		v, ok := rdsFamilies[family]
		if get("engine") == "" || !strings.HasPrefix(family, get("engine")) || !ok {
			// What the provider says when nothing matches.
			return nil, fmt.Errorf("no RDS engine versions match the criteria")
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": v, "engine": get("engine"), "version": v, "versionActual": v, "parameterGroupFamily": family,
		}), nil
	case "aws:rds/getOrderableDbInstance:getOrderableDbInstance":
		// The classes RDS offers both engines here, with gp3 storage.
		class := get("instanceClass")
		m := rdsClassRe.FindStringSubmatch(class)
		if m == nil || !slices.Contains(rdsClassFamilies, m[1]) || !slices.Contains(rdsClassSizes[m[1][:1]], m[2]) || get("storageType") != "gp3" {
			return nil, fmt.Errorf("no RDS Orderable DB Instance found matching criteria; try different search")
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": class, "engine": get("engine"), "engineVersion": get("engineVersion"), "instanceClass": class,
			"storageType": "gp3", "multiAzCapable": true, "supportsStorageEncryption": true,
		}), nil
	case "aws:ec2/getVpcEndpointService:getVpcEndpointService":
		// Every interface endpoint service is offered in every zone.
		zones := c.opts.Zones
		if zones == nil {
			zones = []string{region + "a", region + "b", region + "c", region + "d"}
		}
		name := get("serviceName")
		if svc := strings.TrimPrefix(name, "com.amazonaws."+region+"."); !slices.Contains(endpointServices, svc) {
			// What the provider says when the service does not exist.
			return nil, fmt.Errorf("no matching EC2 VPC Endpoint Service found")
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "serviceName": name, "serviceType": "Interface", "availabilityZones": zones,
			"service": name[strings.LastIndex(name, ".")+1:], "owner": "amazon", "acceptanceRequired": false,
		}), nil
	case "aws:ssm/getParameter:getParameter":
		name := get("name")
		if !strings.HasPrefix(name, "/aws/service/ami-amazon-linux-latest/") {
			return nil, fmt.Errorf("mocks: no SSM parameter %q", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "name": name, "type": "String", "version": 1,
			"value": latestAMI(name, release), "insecureValue": latestAMI(name, release),
			"arn": fmt.Sprintf("arn:%s:ssm:%s::parameter%s", c.opts.Partition, region, name),
		}), nil
	case "aws:ec2/getAmi:getAmi":
		id := amiFilter(args)
		arch, ok := c.opts.Images[id]
		if !ok {
			return nil, fmt.Errorf("mocks: Your query returned no results (image %q)", id)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": id, "imageId": id, "architecture": arch, "name": "mock-image"}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		c.mu.Lock()
		role := c.opts.CallerRole
		c.mu.Unlock()
		arn := "arn:" + c.opts.Partition + ":iam::" + AccountID + ":user/mock"
		if role != "" {
			arn = "arn:" + c.opts.Partition + ":sts::" + AccountID + ":assumed-role/" + role + "/mock"
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": AccountID, "arn": arn, "userId": "MOCK", "id": AccountID,
		}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": c.opts.Partition, "dnsSuffix": dnsSuffix(c.opts.Partition), "id": c.opts.Partition}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": region, "id": region}), nil
	}
	return nil, fmt.Errorf("mocks: no answer for invoke %s", token)
}

// LatestAMI is the image id the mocks give for an AL2023 SSM parameter.
func LatestAMI(parameter string) string { return latestAMI(parameter, "") }

func latestAMI(parameter, release string) string {
	if release == "" {
		return "ami-0" + fake(parameter)[:16]
	}
	return "ami-0" + fake(parameter, release)[:16]
}

// amiFilter finds the image-id filter of a getAmi call.
func amiFilter(args resource.PropertyMap) string {
	filters, ok := args["filters"]
	if !ok || !filters.IsArray() {
		return ""
	}
	for _, f := range filters.ArrayValue() {
		obj := f.ObjectValue()
		if obj["name"].StringValue() == "image-id" && len(obj["values"].ArrayValue()) > 0 {
			return obj["values"].ArrayValue()[0].StringValue()
		}
	}
	return ""
}

// dnsSuffix is a partition's DNS suffix.
func dnsSuffix(partition string) string {
	if partition == "aws-cn" {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// zoneID is a zone's ID in the mock account: as in many us-east-1
// accounts, the names a, b, c, d are the zone IDs az1, az2, az4, az3 (and
// use1-az3, name d, offers no t4g instances).
func zoneID(name string) string {
	n := int(name[len(name)-1]-'a') + 1
	switch n {
	case 3:
		n = 4
	case 4:
		n = 3
	}
	return fmt.Sprintf("use1-az%d", n)
}

// instanceTypeRe is the mock's catalogue of instance types: families and
// sizes EC2 has (a typo such as t4g.huge or tg4.small is offered nowhere).
var instanceTypeRe = regexp.MustCompile(`^(a1|mac[12](-m2(pro)?)?|t[23]a?|t4g|[mcr][5-8][a-z]*|[cgipxz][0-9][a-z]*|inf[12]|trn[12]n?|hpc[0-9][a-z]*)\.(nano|micro|small|medium|large|[0-9]*xlarge|metal(-[0-9]+xl)?)$`)

// gravitonFamilyRe: a family whose generation is followed by g is Graviton.
var gravitonFamilyRe = regexp.MustCompile(`^[a-z]+[0-9]+g`)

// endpointServices are the interface endpoint services every mocked
// region has (short names).
var endpointServices = []string{"autoscaling", "ec2", "ec2messages", "secretsmanager", "ssm", "ssmmessages", "logs", "kms", "sts", "monitoring", "ecr.api", "ecr.dkr", "sqs", "sns", "events", "lambda", "rds", "elasticloadbalancing", "execute-api", "kinesis-streams", "s3"}
