package store_test

import (
	"fmt"

	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A private, versioned, TLS-only bucket that only the deploying role may
// write, with one object in it, run here under the mocks.
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		name := store.BucketName(ctx.Project(), ctx.Stack(), "123456789012", "eu-west-1")
		bucket, err := store.New(ctx, "store", store.Args{
			Name: name, Partition: "aws",
			Writers: []string{"arn:aws:iam::123456789012:role/deploy"},
		})
		if err != nil {
			return err
		}
		fmt.Println(bucket.Name)
		fmt.Println(bucket.ObjectArn("hello.txt"))
		_, err = bucket.PutText("hello", "hello.txt", pulumi.String("hello\n"))
		return err
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally())
	// Output:
	// example-dev-123456789012-eu-west-1
	// arn:aws:s3:::example-dev-123456789012-eu-west-1/hello.txt
	// aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2 1
	// aws:s3/bucketObjectv2:BucketObjectv2 1
	// aws:s3/bucketOwnershipControls:BucketOwnershipControls 1
	// aws:s3/bucketPolicy:BucketPolicy 1
	// aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock 1
	// aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2 1
	// aws:s3/bucketV2:BucketV2 1
	// aws:s3/bucketVersioningV2:BucketVersioningV2 1
	// webstack:store:Bucket 1
}
