/**
 * Where Runway keeps what it knows: one DynamoDB table (single-table design), one S3 bucket for
 * blobs (configuration versions, plan files, state, logs) and one customer-managed KMS key that
 * encrypts both and the secrets (HMAC keys, sensitive variables).
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag.js';

/** What a runtime principal may do with the key beyond what the table and bucket grants need. */
export type KeyAccess = 'encrypt-decrypt' | 'decrypt';

/** Names the code in functions/ relies on. */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi1: { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  ttl: 'ttl',
} as const;

export class Data extends Construct {
  readonly key: kms.Key;
  readonly table: dynamodb.Table;
  readonly blobs: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.key = new kms.Key(this, 'Key', {
      description: 'Runway: DynamoDB table, blob bucket and secrets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: TABLE_KEYS.ttl,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_KEYS.gsi1.indexName,
      partitionKey: { name: TABLE_KEYS.gsi1.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.gsi1.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // Server access logs must be written with SSE-S3 (the log delivery service cannot use a KMS key).
    // Object ownership is left to CDK: bucket-owner-enforced when log delivery is granted by bucket
    // policy (cdk.json's @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy), object-writer for ACLs.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the destination of the blob bucket\'s server access logs; logging it into itself would loop, and a third bucket would only move the finding.',
    });

    this.blobs = new s3.Bucket(this, 'Blobs', {
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'blobs/',
      lifecycleRules: [
        {
          // Terraform state history: keep the ten latest earlier versions for good, older ones 90 days.
          noncurrentVersionExpiration: Duration.days(90),
          noncurrentVersionsToRetain: 10,
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Read/write on the table (and its index) and the blob bucket, and `keyAccess` on the key (secrets:
   * Lambdas encrypt and decrypt, the runner only decrypts). Acknowledges, on `role`, the wildcards
   * these grant methods produce, all confined to Runway's own table, bucket and key.
   */
  grantRuntimeAccess(role: iam.IRole, keyAccess: KeyAccess): void {
    this.table.grantReadWriteData(role);
    this.blobs.grantReadWrite(role);
    if (keyAccess === 'encrypt-decrypt') this.key.grantEncryptDecrypt(role);
    else this.key.grantDecrypt(role);

    acknowledgeWildcardResource(
      role,
      `${this.table.tableArn}/index/*`,
      'Queries on the Runway table\'s own secondary index (gsi1); the pattern names only this table\'s indexes (Table.grantReadWriteData).',
    );
    acknowledgeWildcardResource(
      role,
      this.blobs.arnForObjects('*'),
      'Objects of the Runway blob bucket only; their keys (configuration versions, plans, state, logs of each run) are made at run time.',
    );
    const s3Groups = 'Action group of Bucket.grantReadWrite on the one Runway blob bucket; versioned state needs the *Version* variants the group includes.';
    for (const action of ['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*']) {
      acknowledgeWildcardAction(role, action, s3Groups);
    }
    const kmsGroups = 'Action groups of the KMS grant methods, on the one Runway key only: GenerateDataKey* for SSE-KMS writes (bucket, table) and for envelope-encrypted secrets; ReEncrypt* comes with the same grants.';
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      acknowledgeWildcardAction(role, action, kmsGroups);
    }
  }
}
