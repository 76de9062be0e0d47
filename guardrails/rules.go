package guardrails

// rules is every guardrail, in ID order. IDs are never reused: a retired
// rule's ID stays retired.
var rules = []Rule{
	// Firewalls.
	{ID: "WS001", Severity: Critical, Title: "The internet reaches only the load balancers, on 80 and 443",
		Description: "An ingress rule from 0.0.0.0/0 or ::/0 is allowed only on the load balancers' security group, for tcp/80 and tcp/443 exactly. " +
			"Mirrors checkov CKV_AWS_24/25/260/277 and tfsec aws-ec2-no-public-ingress-sgr (any /0 ingress), with the load balancers' HTTP(S) as the one exception.",
		Check: checkInternetIngress},
	{ID: "WS002", Severity: Critical, Title: "No SSH or RDP ingress",
		Description: "No ingress rule, from any source (CIDR or security group), allows port 22 or 3389: hosts are reached with SSM Session Manager. " +
			"Stricter than checkov CKV_AWS_24 (SSH) and CKV_AWS_25 (RDP), which flag 0.0.0.0/0 only.",
		Check: checkRemoteAdmin},
	{ID: "WS003", Severity: High, Title: "Each tier is reachable only from the tier before it",
		Description: "Every ingress rule that references a security group is an arrow of the diagram: lb → web on the port HAProxy's backends use, web → app on the port nginx's upstream uses, " +
			"app → db on the database's port, and VRRP (IP protocol 112) between the load balancers. The web, app and database groups take no CIDR ingress; the load balancers take CIDRs on 80/443 only; " +
			"shared groups (VPC endpoints) only CIDRs inside the VPC. webstack's own rule (no public equivalent).",
		Check: checkTierGraph},
	{ID: "WS004", Severity: High, Title: "No all-protocol security group rules",
		Description: "No ingress or egress rule uses protocol -1 (all protocols and ports). Mirrors checkov CKV_AWS_277 (ingress) and CKV_AWS_382 (egress).",
		Check:       checkAllProtocols},
	{ID: "WS005", Severity: Medium, Title: "Each tier has its own security group",
		Description: "No security group is used by hosts of two tiers (the tiers would not be isolated), and no host or database is left in, or put in, the VPC's default group. webstack's own rule.",
		Check:       checkOwnGroups},
	{ID: "WS006", Severity: Medium, Title: "Egress to the internet is HTTPS only; the database has none",
		Description: "Egress rules to 0.0.0.0/0 or ::/0 allow tcp/443 only (AWS APIs, package repositories), and the database's group has no egress rule. " +
			"Narrower than checkov CKV_AWS_382 and tfsec aws-ec2-no-public-egress-sgr, which forbid any /0 egress.",
		Check: checkEgress},
	{ID: "WS007", Severity: Low, Title: "Security groups and rules have descriptions",
		Description: "Every security group has a description of its own (not the provider's default \"Managed by Pulumi\") and every rule has one. " +
			"Mirrors checkov CKV_AWS_23 and tfsec aws-ec2-add-description-to-security-group / -security-group-rule.",
		Check: checkDescriptions},
	{ID: "WS008", Severity: High, Title: "Every VPC's default security group is adopted with no rules",
		Description: "Each VPC has an ec2.DefaultSecurityGroup with no ingress and no egress, and no rule resource adds rules to it (AWS's default allows all traffic between members and all egress). " +
			"Mirrors checkov CKV2_AWS_12 (CIS 4.3, AWS FSBP EC2.2).",
		Check: checkDefaultGroup},

	// Hosts.
	{ID: "WS009", Severity: High, Title: "IMDSv2 is required, with a hop limit of 1",
		Description: "Every instance and launch template sets metadataOptions.httpTokens = required and httpPutResponseHopLimit = 1 (or turns the endpoint off). " +
			"Mirrors checkov CKV_AWS_79 and CKV_AWS_341, tfsec aws-ec2-enforce-http-token-imds.",
		Check: checkIMDSv2},
	{ID: "WS010", Severity: High, Title: "Volumes are encrypted",
		Description: "Every instance declares an encrypted root volume (and encrypted EBS volumes); launch templates' and standalone EBS volumes are encrypted. " +
			"Mirrors checkov CKV_AWS_8 and CKV_AWS_3, tfsec aws-ec2-enable-at-rest-encryption / aws-ec2-enable-volume-encryption, awsguard encrypted-volumes.",
		Check: checkEncryptedVolumes},
	{ID: "WS011", Severity: High, Title: "Instances have no public IP",
		Description: "No instance sets associatePublicIpAddress (nor leaves it unset in a subnet that maps public IPs); the load balancers' Elastic IP is the stack's public address. " +
			"Mirrors checkov CKV_AWS_88, tfsec aws-ec2-no-public-ip, awsguard ec2-instance-no-public-ip.",
		Check: checkInstancePublicIP},
	{ID: "WS012", Severity: High, Title: "Subnets do not map public IPs on launch",
		Description: "No subnet sets mapPublicIpOnLaunch. Mirrors checkov CKV_AWS_130 and tfsec aws-ec2-no-public-ip-subnet.",
		Check:       checkSubnetPublicIP},
	{ID: "WS013", Severity: High, Title: "The only Elastic IPs are the load balancers' one and the NAT gateways'",
		Description: "Every Elastic IP is a NAT gateway's or the one floating address attached to a load balancer; an Elastic IP on another host, unattached, or a second one on the load balancers is flagged. " +
			"webstack's own rule.",
		Check: checkElasticIPs},
	{ID: "WS014", Severity: Medium, Title: "The floating Elastic IP belongs to keepalived",
		Description: "The load balancers' Elastic IP ignores changes to its instance association, so that `pulumi up` after a failover does not move the address back (docs/LOADBALANCER.md). " +
			"webstack's own reliability rule.",
		Check: checkFloatingIPOwnership},
	{ID: "WS015", Severity: Medium, Title: "Hosts have a role, detailed monitoring and no key pair",
		Description: "Every instance has an instance profile (Session Manager and its tier's role), detailed monitoring, and no SSH key pair. " +
			"Mirrors checkov CKV2_AWS_41 (IAM role) and CKV_AWS_126 (detailed monitoring), awsguard ec2-instance-detailed-monitoring-enabled.",
		Check: checkHostBasics},
	{ID: "WS016", Severity: Critical, Title: "No secrets in user data or bundles",
		Description: "User data and bucket objects (the hosts' bundles) contain no generated password (any RandomPassword result of the run) and nothing that looks like a credential: " +
			"AWS access key ids, private keys, or a literal value assigned to a password-like name. Mirrors checkov CKV_AWS_46 and tfsec aws-ec2-no-secrets-in-user-data, applied to bundles too.",
		Check: checkSecretsOnHosts},
	{ID: "WS017", Severity: Critical, Title: "Generated passwords exist only as Pulumi secrets",
		Description: "Every RandomPassword's result is a Pulumi secret, and no resource holds a generated password outside a secret in its inputs or outputs (tags, policies, user data…): " +
			"the state stores them encrypted. webstack's own rule.",
		Check: checkPlainPasswords},
	{ID: "WS018", Severity: Medium, Title: "Each tier is a group spread over the zones",
		Description: "The load balancers, web servers and application servers are Auto Scaling groups (no standalone host: a group replaces a dead one); the load balancers' group keeps exactly two nodes; " +
			"in staging and prod each group spans two zones or more, so that one zone's failure does not take a whole tier. " +
			"webstack's own reliability rule (stacks/validate.go requires two web and app servers in prod).",
		Check: checkSpread},

	// Network logs.
	{ID: "WS019", Severity: Medium, Title: "Every VPC has flow logs of all traffic",
		Description: "Each VPC has a flow log recording ALL traffic (accepted and rejected). Mirrors checkov CKV2_AWS_11 and tfsec aws-ec2-require-vpc-flow-logs-for-all-vpcs.",
		Check:       checkFlowLogs},
	{ID: "WS020", Severity: Low, Title: "Log groups have a retention",
		Description: "Every CloudWatch Logs group sets retentionInDays ≥ 1 (0 keeps logs forever). Weaker than checkov CKV_AWS_338, which wants at least a year.",
		Check:       checkLogRetention},

	// Database.
	{ID: "WS021", Severity: Critical, Title: "Database storage is encrypted",
		Description: "Every RDS instance sets storageEncrypted. Mirrors checkov CKV_AWS_16, tfsec aws-rds-encrypt-instance-storage-data, awsguard rds-storage-encrypted.",
		Check:       checkDBEncrypted},
	{ID: "WS022", Severity: Critical, Title: "The database is not publicly accessible",
		Description: "No RDS instance sets publiclyAccessible. Mirrors checkov CKV_AWS_17, tfsec aws-rds-no-public-db-access, awsguard rds-instance-public-access.",
		Check:       checkDBPrivate},
	{ID: "WS023", Severity: High, Title: "The database refuses connections without TLS",
		Description: "Every RDS instance uses one of the stack's parameter groups, which sets rds.force_ssl = 1 (PostgreSQL) or require_secure_transport = 1 (MySQL), " +
			"not with applyMethod pending-reboot (both are dynamic; a pending one waits for a reboot AWS never makes). " +
			"Mirrors checkov CKV2_AWS_69 (Pulumi compliance-ready disallowUnencryptedInTransit).",
		Check: checkDBTLS},
	{ID: "WS024", Severity: High, Title: "Database backups are kept long enough",
		Description: "backupRetentionPeriod is at least 1 day in dev, 7 in staging and 14 in prod or an unknown environment (stacks/validate.go). " +
			"Stricter than checkov CKV_AWS_133, tfsec aws-rds-specify-backup-retention and awsguard rds-instance-backup-enabled, none of which wants a week.",
		Check: checkDBBackups},
	{ID: "WS025", Severity: High, Title: "Production's database cannot be deleted silently",
		Description: "Outside dev and staging, every RDS instance has deletionProtection (AWS refuses the delete) and Pulumi's protect (Pulumi refuses to replace or delete it). " +
			"Mirrors checkov CKV_AWS_293 (deletion protection), plus Pulumi's protect.",
		Check: checkDBDeletionProtection},
	{ID: "WS026", Severity: High, Title: "Production's database leaves a final snapshot",
		Description: "Outside dev and staging, every RDS instance has skipFinalSnapshot = false and a finalSnapshotIdentifier. webstack's own rule (stacks/validate.go).",
		Check:       checkDBFinalSnapshot},
	{ID: "WS027", Severity: Medium, Title: "Production's database is Multi-AZ",
		Description: "Outside dev and staging, every RDS instance sets multiAz. Mirrors checkov CKV_AWS_157 and awsguard rds-instance-multi-az-enabled.",
		Check:       checkDBMultiAZ},
	{ID: "WS028", Severity: Low, Title: "Minor engine upgrades are automatic",
		Description: "No RDS instance turns autoMinorVersionUpgrade off. Mirrors checkov CKV_AWS_226.",
		Check:       checkDBMinorUpgrades},
	{ID: "WS029", Severity: Low, Title: "Database logs go to CloudWatch Logs",
		Description: "Every RDS instance exports its engine's main log (postgresql, or error for MySQL) with enabledCloudwatchLogsExports. Mirrors checkov CKV_AWS_129.",
		Check:       checkDBLogExports},

	// Tags.
	{ID: "WS030", Severity: Medium, Title: "Common tags reach every resource through the provider",
		Description: "Every aws provider carries defaultTags Project, Environment and ManagedBy, every aws resource uses such a provider (Resource.Provider), " +
			"and instances' root volumes carry the same tags (the provider's do not reach them). webstack's own rule (infra.CommonTags).",
		Check: checkCommonTags},
	{ID: "WS031", Severity: Low, Title: "Taggable resources have a Name tag",
		Description: "Every aws resource whose type takes tags has a Name tag (and instances' root volumes too); a type the guardrails do not know yet is reported until it is classified. " +
			"webstack's own rule (components/internal/names).",
		Check: checkNameTags},

	// Load balancers.
	{ID: "WS032", Severity: High, Title: "HAProxy's stats page is not exposed",
		Description: "In every rendered haproxy.cfg, sections serving the stats page bind loopback addresses or sockets only, and no security group ingress rule opens the stats or monitor ports (8404, 8405, and any other port those sections bind). " +
			"webstack's own rule.",
		Check: checkHAProxyStats},

	// The bucket.
	{ID: "WS033", Severity: Critical, Title: "The bucket blocks all public access",
		Description: "Every bucket has a public access block with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets. " +
			"Mirrors checkov CKV2_AWS_6 and CKV_AWS_53/54/55/56, tfsec aws-s3-block-public-acls, -block-public-policy, -ignore-public-acls, -no-public-buckets.",
		Check: checkBucketPublicAccess},
	{ID: "WS034", Severity: High, Title: "The bucket is encrypted",
		Description: "Every bucket has default server-side encryption. Mirrors checkov CKV_AWS_19 and tfsec aws-s3-enable-bucket-encryption.",
		Check:       checkBucketEncryption},
	{ID: "WS035", Severity: Medium, Title: "The bucket is versioned",
		Description: "Every bucket has versioning Enabled, so a bad bundle or release can be rolled back. Mirrors checkov CKV_AWS_21 and tfsec aws-s3-enable-versioning.",
		Check:       checkBucketVersioning},
	{ID: "WS036", Severity: High, Title: "The bucket refuses requests without TLS",
		Description: "A bucket policy denies s3:* to everyone on the bucket and its objects when aws:SecureTransport is false. Mirrors AWS Foundational Security Best Practices S3.5 (no checkov or tfsec equivalent in the controls table).",
		Check:       checkBucketTLS},

	// IAM and secrets.
	{ID: "WS037", Severity: High, Title: "IAM policies name their actions and resources",
		Description: "No Allow statement of an identity policy (role, user, group or managed policy) uses the action \"*\" or \"service:*\", the resource \"*\", NotAction or NotResource; " +
			"only a statement of read-only actions that take no narrower resource (autoscaling:DescribeAutoScalingGroups, ec2:DescribeInstances), or of Session Manager's documented instance minimum, " +
			"or cloudwatch:PutMetricData (which takes no resource) narrowed to one namespace by StringEquals on cloudwatch:namespace, may name the resource \"*\". " +
			"Mirrors checkov CKV_AWS_63 (\"*\" actions) and CKV_AWS_355 (\"*\" resources), tfsec aws-iam-no-policy-wildcards.",
		Check: checkIAMWildcards},
	{ID: "WS038", Severity: Critical, Title: "Only the application servers' role may read the database secret",
		Description: "The database secret (the Secrets Manager secret holding an RDS instance's master password) is named by no identity policy other than the application servers' role's, " +
			"and no resource policy on it allows another principal. webstack's own rule (docs/DATABASE.md).",
		Check: checkDatabaseSecretAccess},

	// Destroy.
	{ID: "WS039", Severity: High, Title: "The database's credentials live as long as its data",
		Description: "The Secrets Manager secret holding an RDS instance's master password, and its version, are protected when the instance is, and kept in AWS on delete " +
			"(retainOnDelete) when the instance leaves a final snapshot: a database restored from it has the same password. webstack's own rule (docs/OPERATIONS.md §7).",
		Check: checkCredentialsOutliveDatabase},
	{ID: "WS040", Severity: High, Title: "A protected stack refuses destroy as a whole",
		Description: "When any resource is protected, a protected destroy guard (webstack:index:DestroyGuard) depends on every other resource, so pulumi destroy stops before deleting anything " +
			"instead of deleting everything but the protected resources (the site with it). webstack's own rule (docs/OPERATIONS.md §7).",
		Check: checkDestroyGuard},

	// Groups.
	{ID: "WS041", Severity: High, Title: "Production replaces hosts only once their replacements are ready",
		Description: "In prod, every Auto Scaling group's instance refresh and instance maintenance policy keep at least 100 % of the desired capacity healthy and allow more than 100 %: " +
			"a new host is launched and in service before an old or unhealthy one goes. webstack's own rule (docs/HOSTS.md).",
		Check: checkReplacementsKeepCapacity},
	{ID: "WS042", Severity: High, Title: "Hosts manage only their own group",
		Description: "Identity policies allow autoscaling:CompleteLifecycleAction, RecordLifecycleActionHeartbeat and SetInstanceHealth only to the roles of a group's hosts, and only on that group's ARN: " +
			"a host cannot take another tier's hosts out of service. webstack's own rule.",
		Check: checkOwnGroupOnly},
	{ID: "WS043", Severity: High, Title: "A host enters service only when ready, and leaves drained",
		Description: "Every Auto Scaling group has a launch lifecycle hook whose default result is ABANDON (a host that never gets ready is replaced, never put in service) and a terminate hook " +
			"(the host leaves the tier in front's list and finishes its requests first). webstack's own rule (docs/HOSTS.md).",
		Check: checkLifecycleHooks},

	// Trust boundaries (issue #13).
	{ID: "WS044", Severity: High, Title: "Hosts cannot read the account's SSM parameters",
		Description: "No role attaches the AWS managed policy AmazonSSMManagedInstanceCore (it allows ssm:GetParameter(s) on every parameter of the account, among other things), " +
			"and no Allow statement of an identity policy grants ssm:GetParameter, GetParameters, GetParametersByPath or GetParameterHistory on \"*\", every parameter, or through NotResource. " +
			"Hosts get Session Manager's documented minimum instead (host.SessionManagerActions). webstack's own rule (docs/HOSTS.md).",
		Check: checkNoAccountWideParameterReads},
	{ID: "WS045", Severity: High, Title: "The S3 gateway endpoint lets through named buckets only",
		Description: "Every S3 gateway endpoint has a policy, and none of its Allow statements names \"*\", a bucket pattern, NotResource or NotAction: " +
			"a host cannot copy data to an arbitrary bucket through the endpoint. Mirrors the data-perimeter guidance of AWS's VPC endpoint policies; webstack's own rule (docs/NETWORK.md).",
		Check: checkS3EndpointPolicy},
	{ID: "WS046", Severity: Medium, Title: "The flow-log role trusts this account's flow logs only",
		Description: "A role VPC Flow Logs (vpc-flow-logs.amazonaws.com) may assume conditions its trust on aws:SourceAccount and aws:SourceArn, as AWS's flow-log IAM guide recommends " +
			"against the cross-service confused deputy. webstack's own rule (docs/NETWORK.md).",
		Check: checkFlowLogTrust},
	{ID: "WS047", Severity: High, Title: "Every secret has a resource policy naming its readers",
		Description: "Every Secrets Manager secret the stack creates has a resource policy (aws_secretsmanager_secret_policy) with a Deny of secretsmanager:GetSecretValue to every principal " +
			"(\"*\") conditioned on aws:PrincipalArn: only the roles that need the value, and the deployer, can read it, whatever other IAM policies of the account allow. " +
			"webstack's own rule (docs/DATABASE.md, docs/LOADBALANCER.md).",
		Check: checkSecretPolicies},
	{ID: "WS048", Severity: Low, Title: "The database's log exports go to log groups of the stack",
		Description: "For every log type an RDS instance exports (enabled_cloudwatch_logs_exports), the stack has the log group RDS writes to, /aws/rds/instance/<identifier>/<type>, " +
			"and the instance depends on it: otherwise RDS creates the group itself, with no retention (WS020 cannot see it), and pulumi destroy leaves it behind. " +
			"webstack's own rule (docs/DATABASE.md, \"Log groups\").",
		Check: checkDBLogGroups},

	// Monitoring (issue #12).
	{ID: "WS049", Severity: High, Title: "Every alarm tells someone when it fires and when it clears",
		Description: "Every CloudWatch metric alarm has alarm actions and OK actions, each an SNS topic of the stack, and actions enabled: an alarm nobody hears is no alarm. " +
			"Mirrors AWS Config's cloudwatch-alarm-action-check (alarmActionRequired, okActionRequired); webstack's own rule (docs/MONITORING.md).",
		Check: checkAlarmActions},
	{ID: "WS050", Severity: Medium, Title: "Alarm topics are encrypted with a key CloudWatch may use",
		Description: "Every SNS topic sets kmsMasterKeyId to a customer managed key of the stack whose policy allows cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*: " +
			"the AWS managed key alias/aws/sns does not let CloudWatch alarms publish. Mirrors checkov CKV_AWS_26 (SNS encryption), with CloudWatch's condition; webstack's own rule.",
		Check: checkTopicEncryption},
	{ID: "WS051", Severity: High, Title: "Staging and prod are watched",
		Description: "Outside dev the stack has an alarm topic, a Route 53 health check of the site with an alarm reading it, and a dashboard (webstack:monitoring.enabled; only dev may turn it off). " +
			"webstack's own rule (docs/MONITORING.md).",
		Check: checkWatched},
	{ID: "WS052", Severity: High, Title: "Prod's alarms reach someone",
		Description: "In prod every SNS topic has at least one subscription (webstack:monitoring.email or httpsEndpoints): alarms published to a topic nobody subscribes to are lost. " +
			"webstack's own rule (docs/MONITORING.md).",
		Check: checkTopicSubscribers},
}
