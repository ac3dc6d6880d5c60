/**
 * The web UI on AWS (infra/constructs/web.ts): a private bucket behind CloudFront with Origin
 * Access Control, UI routes answered with index.html, /api/* passed to the HTTP API uncached, the
 * build deployed by BucketDeployment. The stack is built from a tiny stand-in for web/dist, so
 * these tests do not depend on `npm run build:web`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { Web } from '../../infra/constructs/web.js';
import { RunwayStack } from '../../infra/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };

type Json = Record<string, any>;

let dist: string;
let app: App;
let stack: RunwayStack;
let resources: Record<string, Json>;

beforeAll(() => {
  dist = mkdtempSync(join(tmpdir(), 'runway-web-dist-'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Runway</title><script type="module" src="/assets/index-abc123.js"></script>');
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log("runway")');
  app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  stack = new RunwayStack(app, 'Runway', { webDist: dist });
  resources = Template.fromStack(stack).toJSON().Resources;
});

afterAll(() => rmSync(dist, { recursive: true, force: true }));

const logicalId = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/**
 * A CloudFormation value as a readable string ({{Ref:X}}, {{GetAtt:X.Y}}); `attributes` gives
 * some GetAtt their value, so that Fn::Select/Fn::Split over them can be evaluated.
 */
function render(value: unknown, attributes: Record<string, string> = {}): string {
  if (typeof value === 'string') return value;
  const o = value as Json;
  const again = (v: unknown) => render(v, attributes);
  if (o && 'Fn::Join' in o) return (o['Fn::Join'][1] as unknown[]).map(again).join(o['Fn::Join'][0]);
  if (o && 'Ref' in o) return `{{Ref:${o.Ref}}}`;
  if (o && 'Fn::GetAtt' in o) {
    const name = (o['Fn::GetAtt'] as string[]).join('.');
    return attributes[name] ?? `{{GetAtt:${name}}}`;
  }
  if (o && 'Fn::Select' in o) {
    const [index, list] = o['Fn::Select'] as [number, Json];
    const [delimiter, source] = list['Fn::Split'] as [string, unknown];
    return again(source).split(delimiter)[index];
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}
const rendered = (token: string) => render(stack.resolve(token));

function distributionConfig(): Json {
  const found = ofType('AWS::CloudFront::Distribution');
  expect(found).toHaveLength(1);
  return found[0][1].Properties.DistributionConfig;
}

const apiBehavior = () => (distributionConfig().CacheBehaviors as Json[]).find((b) => b.PathPattern === '/api/*')!;
const originOf = (behavior: Json) => (distributionConfig().Origins as Json[]).find((o) => o.Id === behavior.TargetOriginId)!;

test('the UI bucket is private: public access blocked, TLS required, encrypted, access-logged; only this distribution may read', () => {
  const bucket = resources[logicalId(stack.web.bucket)].Properties;
  expect(bucket.PublicAccessBlockConfiguration).toEqual({
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  expect(bucket.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId(stack.data.accessLogs) });
  expect(bucket.WebsiteConfiguration).toBeUndefined();

  const policies = ofType('AWS::S3::BucketPolicy').filter(([, r]) => r.Properties.Bucket.Ref === logicalId(stack.web.bucket));
  expect(policies).toHaveLength(1);
  const statements = policies[0][1].Properties.PolicyDocument.Statement as Json[];
  expect(statements.some((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false')).toBe(true);
  const allows = statements.filter((s) => s.Effect === 'Allow');
  expect(allows).toHaveLength(1);
  expect(allows[0].Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
  expect(allows[0].Action).toBe('s3:GetObject');
  expect(render(allows[0].Condition.StringEquals['AWS:SourceArn'])).toMatch(
    new RegExp(`:distribution/\\{\\{Ref:${logicalId(stack.web.distribution)}\\}\\}$`),
  );
});

test('CloudFront reads the bucket through Origin Access Control (SigV4, always), not an origin access identity', () => {
  const s3Origin = originOf(distributionConfig().DefaultCacheBehavior);
  expect(render(s3Origin.DomainName)).toBe(`{{GetAtt:${logicalId(stack.web.bucket)}.RegionalDomainName}}`);
  expect(s3Origin.S3OriginConfig.OriginAccessIdentity).toBe('');
  const oacId = render(s3Origin.OriginAccessControlId).match(/^\{\{GetAtt:(\w+)\.Id\}\}$/)?.[1];
  expect(resources[oacId!]).toMatchObject({
    Type: 'AWS::CloudFront::OriginAccessControl',
    Properties: { OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' } },
  });
  expect(ofType('AWS::CloudFront::CloudFrontOriginAccessIdentity')).toEqual([]);
});

describe('UI routes', () => {
  /** The viewer-request function's code, run as CloudFront would run it on a request. */
  function viewerRequest(uri: string): string {
    const [, fn] = ofType('AWS::CloudFront::Function')[0];
    const handler = new Function(`${fn.Properties.FunctionCode as string}\nreturn handler;`)() as (e: Json) => Json;
    return handler({ request: { uri, method: 'GET', headers: {}, querystring: {} } }).uri;
  }

  test('a CloudFront Function on the UI behaviour only rewrites UI routes to /index.html; files pass through', () => {
    const config = distributionConfig();
    expect(config.DefaultRootObject).toBe('index.html');
    const functions = ofType('AWS::CloudFront::Function');
    expect(functions).toHaveLength(1);
    expect(functions[0][1].Properties.FunctionConfig.Runtime).toBe('cloudfront-js-2.0');
    expect(config.DefaultCacheBehavior.FunctionAssociations).toEqual([
      { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [functions[0][0], 'FunctionARN'] } },
    ]);
    expect(apiBehavior().FunctionAssociations).toBeUndefined();

    for (const route of ['/', '/workspaces', '/workspaces/ws-abc/runs/run-1', '/admin/run-tasks/', '/runs/run-1?tab=log']) {
      expect({ route, uri: viewerRequest(route.split('?')[0]) }).toEqual({ route, uri: '/index.html' });
    }
    for (const file of ['/index.html', '/assets/index-abc123.js', '/assets/index-abc123.js.map', '/assets/index-cb-1gtRe.css']) {
      expect(viewerRequest(file)).toBe(file);
    }
  });

  test('no custom error responses: a 403/404 of the API reaches the client as is, not as a 200 page', () => {
    expect(distributionConfig().CustomErrorResponses).toBeUndefined();
  });
});

test('/api/* goes to the HTTP API: every method, caching disabled, all viewer headers but Host, HTTPS only', () => {
  const behavior = apiBehavior();
  expect(behavior.CachePolicyId).toBe(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId);
  expect(behavior.OriginRequestPolicyId).toBe(cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId);
  expect([...behavior.AllowedMethods].sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
  expect(behavior.ViewerProtocolPolicy).toBe('https-only');

  const origin = originOf(behavior);
  // The host of the HTTP API's endpoint, whose value CloudFormation gives as below; no path.
  const httpApi = logicalId(stack.api.httpApi);
  const endpoint = `https://{{Ref:${httpApi}}}.execute-api.{{Ref:AWS::Region}}.{{Ref:AWS::URLSuffix}}`;
  expect(rendered(stack.api.url)).toBe(`{{GetAtt:${httpApi}.ApiEndpoint}}`);
  expect(render(origin.DomainName, { [`${httpApi}.ApiEndpoint`]: endpoint })).toBe(`{{Ref:${httpApi}}}.execute-api.{{Ref:AWS::Region}}.{{Ref:AWS::URLSuffix}}`);
  expect(origin.OriginPath).toBeUndefined();
  expect(origin.CustomOriginConfig).toEqual({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] });
});

test('viewers: HTTPS (the UI redirects http), security headers on UI and API, access logs to a bucket of their own', () => {
  const config = distributionConfig();
  expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
  const policyRef = { Ref: logicalId(stack.web.responseHeadersPolicy) };
  expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual(policyRef);
  expect(apiBehavior().ResponseHeadersPolicyId).toEqual(policyRef);

  const headers = resources[logicalId(stack.web.responseHeadersPolicy)].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
  expect(headers.StrictTransportSecurity.AccessControlMaxAgeSec).toBeGreaterThanOrEqual(31536000);
  expect(headers.ContentTypeOptions).toEqual({ Override: true });
  expect(headers.FrameOptions.FrameOption).toBe('DENY');
  const csp = render(headers.ContentSecurityPolicy.ContentSecurityPolicy);
  expect(csp).toContain("default-src 'self'");
  // The live-log viewer connects to the WebSocket API, another origin.
  expect(csp).toContain(`connect-src 'self' ${rendered(stack.logStreaming.url)}`);

  expect(render(config.Logging.Bucket)).toBe(`{{GetAtt:${logicalId(stack.web.logBucket)}.RegionalDomainName}}`);
  const logBucket = resources[logicalId(stack.web.logBucket)].Properties;
  // CloudFront standard logs are delivered with an ACL.
  expect(logBucket.OwnershipControls.Rules).toEqual([{ ObjectOwnership: 'ObjectWriter' }]);
  expect(logBucket.PublicAccessBlockConfiguration.RestrictPublicBuckets).toBe(true);
  expect(logBucket.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId(stack.data.accessLogs) });
});

describe('deployment', () => {
  const deployments = () => ofType('Custom::CDKBucketDeployment');

  test('BucketDeployment of the build: hashed files first (immutable, pruned), then index.html (no-cache) with an invalidation', () => {
    expect(deployments()).toHaveLength(2);
    const assets = resources[logicalId(stack.web.assetsDeployment.node.findChild('CustomResource'))];
    const index = resources[logicalId(stack.web.indexDeployment.node.findChild('CustomResource'))];
    for (const d of [assets, index]) {
      expect(d.Properties.DestinationBucketName).toEqual({ Ref: logicalId(stack.web.bucket) });
      expect(d.Properties.SourceObjectKeys).toEqual([rendered(stack.web.dist.s3ObjectKey)]);
    }
    expect(assets.Properties).toMatchObject({ Prune: true, Exclude: ['index.html'], SystemMetadata: { 'cache-control': 'public, max-age=31536000, immutable' } });
    expect(index.Properties).toMatchObject({
      Prune: false,
      Exclude: ['*'],
      Include: ['index.html'],
      SystemMetadata: { 'cache-control': 'no-cache' },
      DistributionId: { Ref: logicalId(stack.web.distribution) },
      DistributionPaths: ['/*'],
    });
    expect(index.DependsOn).toContain(logicalId(stack.web.assetsDeployment.node.findChild('CustomResource')));
  });

  test('the deployed archive is the given build directory', () => {
    const assembly = app.synth();
    const manifest = JSON.parse(readFileSync(join(assembly.directory, 'Runway.assets.json'), 'utf8'));
    const entry = manifest.files[stack.web.dist.assetHash];
    expect(entry.source.packaging).toBe('zip');
    const staged = join(assembly.directory, entry.source.path);
    expect(readFileSync(join(staged, 'index.html'), 'utf8')).toContain('/assets/index-abc123.js');
    expect(readFileSync(join(staged, 'assets', 'index-abc123.js'), 'utf8')).toBe('console.log("runway")');
  });

  test('the deployment Lambda logs to its own group only (no AWSLambdaBasicExecutionRole)', () => {
    const [, fn] = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith('CustomCDKBucketDeployment'))!;
    expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [logicalId(stack.web.node.findChild('DeploymentRole')), 'Arn'] });
    const role = resources[logicalId(stack.web.node.findChild('DeploymentRole'))].Properties;
    expect(role.ManagedPolicyArns).toBeUndefined();
  });

  test('the deployment Lambda may invalidate this distribution only (BucketDeployment asks for "*")', () => {
    const roleId = logicalId(stack.web.node.findChild('DeploymentRole'));
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, r]) => (r.Properties.Roles as Json[]).some((x) => x.Ref === roleId))
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Json[]);
    const invalidation = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('cloudfront:')));
    expect(invalidation).toHaveLength(1);
    expect([invalidation[0].Action].flat().sort()).toEqual(['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation']);
    expect([invalidation[0].Resource].flat().map((r) => render(r))).toEqual([rendered(stack.web.distribution.distributionArn)]);
    expect(statements.flatMap((s) => [s.Resource].flat())).not.toContain('*');
  });

  test('without a build, the construct refuses with what to run', () => {
    const empty = mkdtempSync(join(tmpdir(), 'runway-web-empty-'));
    try {
      const other = new Stack(new App(), 'Other');
      const bucket = new s3.Bucket(other, 'Logs');
      expect(() => new Web(other, 'Web', { apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com', webSocketUrl: 'wss://x', accessLogsBucket: bucket, webDist: empty })).toThrow(
        /index\.html does not exist\. Run `npm run build:web`/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

test('the API and workflow Lambdas hand out the CloudFront URL (PUBLIC_URL: run links are UI routes); the stack outputs it', () => {
  const webUrl = `https://{{GetAtt:${logicalId(stack.web.distribution)}.DomainName}}`;
  for (const fn of [stack.api.handler, ...stack.workflow.functions]) {
    const env = resources[logicalId(fn.function)].Properties.Environment.Variables;
    expect({ fn: fn.node.path, url: render(env.PUBLIC_URL) }).toEqual({ fn: fn.node.path, url: webUrl });
  }
  // The UI still reaches live logs on the WebSocket API directly.
  const apiEnv = resources[logicalId(stack.api.handler.function)].Properties.Environment.Variables;
  expect(render(apiEnv.WEBSOCKET_URL)).toBe(rendered(stack.logStreaming.url));
  const outputs = Template.fromStack(stack).toJSON().Outputs;
  expect(render(outputs.WebUrl.Value)).toBe(webUrl);
});

test('cdk-nag: no unacknowledged error or warning; the web acknowledgements name single findings with reasons', () => {
  const report = new AwsSolutionsChecks().validateScope(stack);
  const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
  expect(findings).toEqual([]);

  const acknowledged: string[] = [];
  const visit = (c: IConstruct) => {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        acknowledged.push(id);
        expect({ id, long: String(reason).length >= 40 }).toEqual({ id, long: true });
      }
    }
    c.node.children.forEach(visit);
  };
  visit(stack.web);
  expect(acknowledged.map((id) => id.replace(/^[A-Za-z-]+::/, '')).filter((id) => id.startsWith('AwsSolutions-CFR')).sort()).toEqual([
    'AwsSolutions-CFR1',
    'AwsSolutions-CFR2',
    'AwsSolutions-CFR4',
  ]);
  for (const id of acknowledged) expect(id).not.toMatch(/^(.*::)?AwsSolutions-IAM5$/);
});
