/**
 * The web UI on AWS: the build of web/ (`npm run build:web` → web/dist) in a private S3 bucket,
 * served by a CloudFront distribution through Origin Access Control. The same distribution sends
 * `/api/*` to the HTTP API, so the UI and the API share one origin, as they do in the embedded
 * default (local/http-server.ts): the UI calls `/api/v1` relative to the page. Live logs stay on
 * the WebSocket API, whose URL the UI reads from GET /api/v1/meta (`websocket_url`).
 *
 * UI routes (`/workspaces/…`) are rewritten to /index.html by a CloudFront Function on the UI
 * behaviour only. Custom error responses (403/404 → /index.html) would do the same for S3 but
 * are distribution-wide: every 403/404 of the API (`{error,message}`) would reach clients as a
 * 200 HTML page.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Fn, Stack, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag.js';
import { repoPath } from '../repo.js';

/**
 * Viewer-request function of the UI behaviour (cloudfront-js-2.0): a path whose last segment has
 * no dot is a UI route and gets index.html, like the embedded server does. Files (`/assets/…`)
 * pass through, so a missing file is an error, not a page.
 */
export const SPA_ROUTES_FUNCTION = `function handler(event) {
  var request = event.request;
  var last = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) request.uri = '/index.html';
  return request;
}`;

export interface WebProps {
  /** Base URL of the HTTP API (`https://<id>.execute-api.<region>.amazonaws.com`): the `/api/*` origin. */
  readonly apiUrl: string;
  /** The live-log WebSocket URL (`wss://…`), allowed as a connect source by the page's CSP. */
  readonly webSocketUrl: string;
  /** Where S3 server access logs go (the bucket of Data). */
  readonly accessLogsBucket: s3.IBucket;
  /** The built UI (must contain index.html). @default web/dist of the repository */
  readonly webDist?: string;
}

interface DeploymentRoleProps extends iam.RoleProps {
  readonly distributionArn: string;
}

/**
 * The deployment Lambda's role. BucketDeployment grants cloudfront:CreateInvalidation and
 * GetInvalidation on "*"; both take a distribution ARN, so here they name this distribution only.
 */
class DeploymentRole extends iam.Role {
  private readonly distributionArn: string;

  constructor(scope: Construct, id: string, props: DeploymentRoleProps) {
    const { distributionArn, ...roleProps } = props;
    super(scope, id, roleProps);
    this.distributionArn = distributionArn;
  }

  override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    const invalidation = statement.actions.length > 0 && statement.actions.every((a) => a.startsWith('cloudfront:') && a.endsWith('Invalidation'));
    if (invalidation && statement.resources.includes('*')) {
      return super.addToPrincipalPolicy(new iam.PolicyStatement({ effect: statement.effect, actions: statement.actions, resources: [this.distributionArn] }));
    }
    return super.addToPrincipalPolicy(statement);
  }
}

export class Web extends Construct {
  readonly bucket: s3.Bucket;
  /** CloudFront standard logs (needs ACLs, so not the bucket of Data, which has none). */
  readonly logBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly responseHeadersPolicy: cloudfront.ResponseHeadersPolicy;
  readonly spaRoutes: cloudfront.Function;
  /** web/dist, zipped into the CDK asset bucket: the source of both deployments. */
  readonly dist: s3assets.Asset;
  /** Hashed files (assets/…), then index.html: the page never names files not yet uploaded. */
  readonly assetsDeployment: s3deploy.BucketDeployment;
  readonly indexDeployment: s3deploy.BucketDeployment;
  /** `https://<id>.cloudfront.net`: the UI, and the API under /api/v1. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: WebProps) {
    super(scope, id);
    const webDist = props.webDist ?? repoPath('web/dist');
    if (!existsSync(join(webDist, 'index.html'))) {
      throw new Error(`The web UI is not built: ${join(webDist, 'index.html')} does not exist. Run \`npm run build:web\` before \`cdk synth\` or \`cdk deploy\`.`);
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'web/',
    });

    // CloudFront delivers standard logs by writing objects with an ACL: the bucket must allow ACLs.
    this.logBucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'web-logs/',
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });

    this.responseHeadersPolicy = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Runway: security headers of the UI and the API',
      securityHeadersBehavior: {
        // data: for the inline favicon; https: images may appear in run-task result Markdown.
        contentSecurityPolicy: {
          contentSecurityPolicy: [
            "default-src 'self'",
            `connect-src 'self' ${props.webSocketUrl}`,
            "img-src 'self' data: https:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
          ].join('; '),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
      },
    });

    this.spaRoutes = new cloudfront.Function(this, 'SpaRoutes', {
      comment: 'Runway UI routes → /index.html',
      code: cloudfront.FunctionCode.fromInline(SPA_ROUTES_FUNCTION),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${Stack.of(this).stackName}: web UI and /api`,
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        // Nothing but static files here; plain http only ever gets the redirect.
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.responseHeadersPolicy,
        functionAssociations: [{ function: this.spaRoutes, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
      additionalBehaviors: {
        '/api/*': {
          origin: new origins.HttpOrigin(Fn.parseDomainName(props.apiUrl), {
            protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          }),
          // Requests carry bearer tokens: never over plain http, not even to be redirected.
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          // With caching disabled, the all-viewer policy forwards Authorization too; API Gateway
          // routes on its own Host name, hence "except Host".
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicy: this.responseHeadersPolicy,
        },
      },
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
    });
    this.url = `https://${this.distribution.distributionDomainName}`;

    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'Runway is used by the teams of whoever deploys it, wherever they are; which countries to block (if any) is a deployment choice, not a default.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      reason: 'A web ACL costs per month and its rules depend on the organisation; every API request is authenticated by the API Lambda and throttled by the HTTP API stage. Attach a WAF web ACL at deployment where required.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      reason: 'No custom domain, so the default *.cloudfront.net certificate: its security policy is fixed by CloudFront (MinimumProtocolVersion applies only to a custom certificate). A custom domain with a TLSv1.2_2021 policy is a deployment choice.',
    });

    // One log group, one role (logs to that group only, no AWSLambdaBasicExecutionRole) for the
    // stack's singleton deployment Lambda, which both deployments share.
    const deployLogs = new logs.LogGroup(this, 'DeploymentLogs', { retention: logs.RetentionDays.ONE_MONTH });
    const deployRole = new DeploymentRole(this, 'DeploymentRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Runway web UI deployment (s3-deployment) Lambda',
      distributionArn: this.distribution.distributionArn,
    });
    deployLogs.grantWrite(deployRole);

    // One asset (a zip of web/dist in the CDK asset bucket) for both deployments.
    this.dist = new s3assets.Asset(this, 'Dist', { path: webDist });
    const source = s3deploy.Source.bucket(this.dist.bucket, this.dist.s3ObjectKey);
    this.assetsDeployment = new s3deploy.BucketDeployment(this, 'DeployAssets', {
      sources: [source],
      destinationBucket: this.bucket,
      // Vite names every file but index.html by content hash (publicDir is off).
      exclude: ['index.html'],
      cacheControl: [s3deploy.CacheControl.fromString('public, max-age=31536000, immutable')],
      role: deployRole,
      logGroup: deployLogs,
    });
    this.indexDeployment = new s3deploy.BucketDeployment(this, 'DeployIndex', {
      sources: [source],
      destinationBucket: this.bucket,
      exclude: ['*'],
      include: ['index.html'],
      // The assets deployment prunes; this one must not delete what that one uploaded.
      prune: false,
      cacheControl: [s3deploy.CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      role: deployRole,
      logGroup: deployLogs,
    });
    this.indexDeployment.node.addDependency(this.assetsDeployment);

    this.acknowledgeDeploymentFindings(deployRole);
  }

  private acknowledgeDeploymentFindings(role: iam.Role): void {
    const site = 'Objects of the web UI bucket, replaced on every deployment (aws s3 sync --delete); the grant comes from BucketDeployment (Bucket.grantReadWrite on this bucket only, which includes the deletes of the sync).';
    for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*']) {
      acknowledgeWildcardAction(role, action, `Action groups of the grants BucketDeployment makes on the asset bucket and the web UI bucket. ${site}`);
    }
    acknowledgeWildcardResource(role, this.bucket.arnForObjects('*'), site);
    acknowledgeWildcardResource(
      role,
      this.dist.bucket.arnForObjects('*'),
      'Objects of the CDK bootstrap asset bucket, where the zip of web/dist is staged under a content hash; the read grant comes from BucketDeployment (Bucket.grantRead).',
    );

    const handler = this.deploymentHandler();
    Validations.of(handler).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The runtime of the BucketDeployment singleton Lambda (Python with the AWS CLI layer) is chosen by aws-cdk-lib and moves with its upgrades; it cannot be set from here.',
    });
  }

  /** The singleton Lambda of aws-s3-deployment (one per stack, at the stack's root). */
  private deploymentHandler(): IConstruct {
    const found = Stack.of(this).node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!found) throw new Error('the BucketDeployment Lambda was not found');
    return found;
  }
}
