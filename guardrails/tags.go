package guardrails

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/internal/mocks"
)

// CommonTagKeys are the tags every taggable resource carries, through the
// aws provider's defaultTags (infra.CommonTags).
var CommonTagKeys = []string{"Project", "Environment", "ManagedBy"}

// taggable lists the aws resource types (of pulumi-aws v6) webstack uses or
// is likely to, by whether they take tags (their Args have Tags). A type in
// neither list is reported by WS031, so that a new type is classified
// (check its Args in the SDK) before it ships.
var taggable = map[string]bool{
	// Take tags.
	"aws:acm/certificate:Certificate":                           true,
	"aws:cloudwatch/logGroup:LogGroup":                          true,
	"aws:route53/healthCheck:HealthCheck":                       true,
	"aws:cloudwatch/metricAlarm:MetricAlarm":                    true,
	"aws:ebs/volume:Volume":                                     true,
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         true,
	"aws:ec2/eip:Eip":                                           true,
	"aws:ec2/flowLog:FlowLog":                                   true,
	"aws:ec2/instance:Instance":                                 true,
	"aws:ec2/internetGateway:InternetGateway":                   true,
	"aws:ec2/keyPair:KeyPair":                                   true,
	"aws:ec2/launchTemplate:LaunchTemplate":                     true,
	"aws:autoscaling/group:Group":                               true, // a list of tags, see groupTags
	"aws:ec2/natGateway:NatGateway":                             true,
	"aws:ec2/networkInterface:NetworkInterface":                 true,
	"aws:ec2/routeTable:RouteTable":                             true,
	"aws:ec2/securityGroup:SecurityGroup":                       true,
	"aws:ec2/subnet:Subnet":                                     true,
	"aws:ec2/vpc:Vpc":                                           true,
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           true,
	"aws:iam/instanceProfile:InstanceProfile":                   true,
	"aws:iam/policy:Policy":                                     true,
	"aws:iam/role:Role":                                         true,
	"aws:kms/key:Key":                                           true,
	"aws:rds/cluster:Cluster":                                   true,
	"aws:rds/instance:Instance":                                 true,
	"aws:rds/parameterGroup:ParameterGroup":                     true,
	"aws:rds/subnetGroup:SubnetGroup":                           true,
	"aws:route53/zone:Zone":                                     true,
	"aws:s3/bucket:Bucket":                                      true,
	"aws:s3/bucketObject:BucketObject":                          true,
	"aws:s3/bucketObjectv2:BucketObjectv2":                      true,
	"aws:s3/bucketV2:BucketV2":                                  true,
	"aws:secretsmanager/secret:Secret":                          true,
	"aws:sns/topic:Topic":                                       true,
	"aws:ssm/parameter:Parameter":                               true,
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   true,
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": true,
	// Take no tags.
	"aws:cloudwatch/logMetricFilter:LogMetricFilter":                                             false,
	"aws:cloudwatch/dashboard:Dashboard":                                                         false,
	"aws:sns/topicSubscription:TopicSubscription":                                                false,
	"aws:ec2/eipAssociation:EipAssociation":                                                      false,
	"aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation":                                false,
	"aws:ec2/route:Route":                                                                        false,
	"aws:ec2/routeTableAssociation:RouteTableAssociation":                                        false,
	"aws:ec2/securityGroupRule:SecurityGroupRule":                                                false,
	"aws:ec2/volumeAttachment:VolumeAttachment":                                                  false,
	"aws:ec2/vpcEndpointRouteTableAssociation:VpcEndpointRouteTableAssociation":                  false,
	"aws:iam/groupPolicy:GroupPolicy":                                                            false,
	"aws:iam/groupPolicyAttachment:GroupPolicyAttachment":                                        false,
	"aws:iam/policyAttachment:PolicyAttachment":                                                  false,
	"aws:iam/rolePolicy:RolePolicy":                                                              false,
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                                          false,
	"aws:iam/userPolicy:UserPolicy":                                                              false,
	"aws:iam/userPolicyAttachment:UserPolicyAttachment":                                          false,
	"aws:kms/alias:Alias":                                                                        false,
	"aws:route53/record:Record":                                                                  false,
	"aws:autoscaling/policy:Policy":                                                              false,
	"aws:autoscaling/lifecycleHook:LifecycleHook":                                                false,
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       false,
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":                                     false,
	"aws:s3/bucketPolicy:BucketPolicy":                                                           false,
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     false,
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": false,
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                                               false,
	"aws:secretsmanager/secretPolicy:SecretPolicy":                                               false,
	"aws:secretsmanager/secretVersion:SecretVersion":                                             false,
}

// awsResources are the aws custom resources (not providers).
func (g *Graph) awsResources() []*mocks.Resource {
	var out []*mocks.Resource
	for _, r := range g.Resources {
		if r.Custom && strings.HasPrefix(r.Type, "aws:") {
			out = append(out, r)
		}
	}
	return out
}

// providerURN is the URN part of a provider reference (urn::id).
func providerURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i > 0 {
		return ref[:i]
	}
	return ref
}

func missingKeys(tags func(string) string, keys []string) []string {
	var out []string
	for _, k := range keys {
		if tags(k) == "" {
			out = append(out, k)
		}
	}
	return out
}

// WS030: the common tags reach every resource through the provider.
func checkCommonTags(g *Graph) []Finding {
	var out []Finding
	tagged := map[string]bool{}
	for _, p := range g.OfType(providerAWS) {
		missing := missingKeys(func(k string) string { return p.Str("defaultTags.tags." + k) }, CommonTagKeys)
		if len(missing) > 0 {
			out = append(out, flag(p, "defaultTags lack %s", strings.Join(missing, ", ")))
			continue
		}
		tagged[p.URN] = true
	}
	for _, r := range g.awsResources() {
		switch {
		case r.Provider == "":
			out = append(out, flag(r, "uses the default aws provider: it gets none of the common tags (%s)", strings.Join(CommonTagKeys, ", ")))
		case !tagged[providerURN(r.Provider)]:
			out = append(out, flag(r, "uses provider %s, which does not carry the common tags", providerURN(r.Provider)))
		}
		if r.Type == instanceT {
			// Volumes created with an instance get the instance's tags only
			// through rootBlockDevice.tags, not from the provider.
			missing := missingKeys(func(k string) string { return r.Str("rootBlockDevice.tags." + k) }, CommonTagKeys)
			if len(missing) > 0 {
				out = append(out, flag(r, "root volume tags lack %s (the provider's default tags do not reach it)", strings.Join(missing, ", ")))
			}
		}
		// What a group launches gets its launch template's tag
		// specifications, and the group its own tags: the provider's
		// default tags reach neither.
		if r.Type == launchTemplateT {
			for _, kind := range []string{"instance", "volume", "network-interface"} {
				tags := tagSpecification(r, kind)
				if missing := missingKeys(func(k string) string { return tags[k] }, CommonTagKeys); len(missing) > 0 {
					out = append(out, flag(r, "what it launches (%s) is not tagged %s (the provider's default tags do not reach it)", kind, strings.Join(missing, ", ")))
				}
			}
		}
		if r.Type == asgT {
			tags := groupTags(r)
			if missing := missingKeys(func(k string) string { return tags[k] }, CommonTagKeys); len(missing) > 0 {
				out = append(out, flag(r, "tags lack %s (the provider's default tags do not reach a group)", strings.Join(missing, ", ")))
			}
		}
	}
	return out
}

// WS031: every resource that takes tags has a Name tag.
func checkNameTags(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.awsResources() {
		takes, known := taggable[r.Type]
		if !known {
			takes = r.In("tags") != nil
			if !takes {
				out = append(out, flag(r, "type %s is not classified: add it to guardrails' taggable table (does its Args have Tags?)", r.Type))
				continue
			}
		}
		if !takes {
			continue
		}
		if name := r.Str("tags.Name"); name == "" && (r.Type != asgT || groupTags(r)["Name"] == "") {
			out = append(out, flag(r, "has no Name tag"))
		}
		if r.Type == instanceT && r.Str("rootBlockDevice.tags.Name") == "" {
			out = append(out, flag(r, "root volume has no Name tag"))
		}
		if r.Type == launchTemplateT && tagSpecification(r, "instance")["Name"] == "" {
			out = append(out, flag(r, "the hosts it launches have no Name tag"))
		}
	}
	return out
}

// tagSpecification returns the tags a launch template gives what it
// launches of one kind (instance, volume, network-interface).
func tagSpecification(lt *mocks.Resource, kind string) map[string]string {
	out := map[string]string{}
	list, _ := mocks.Reveal(lt.In("tagSpecifications")).([]any)
	for i := range list {
		p := fmt.Sprintf("tagSpecifications.%d", i)
		if lt.Str(p+".resourceType") != kind {
			continue
		}
		tags, _ := mocks.Reveal(lt.In(p + ".tags")).(map[string]any)
		for k, v := range tags {
			if s, ok := mocks.Reveal(v).(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// groupTags returns an Auto Scaling group's tags (a list of key, value).
func groupTags(asg *mocks.Resource) map[string]string {
	out := map[string]string{}
	list, _ := mocks.Reveal(asg.In("tags")).([]any)
	for i := range list {
		p := fmt.Sprintf("tags.%d.", i)
		out[asg.Str(p+"key")] = asg.Str(p + "value")
	}
	return out
}
