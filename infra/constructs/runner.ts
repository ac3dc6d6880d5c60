/**
 * Where Terraform runs: a VPC with private subnets (egress through NAT), an ECS cluster and a
 * Fargate task definition whose one container, `runner`, is built from containers/runner/Dockerfile.
 * The state machine starts one task per phase (plan, apply) with `ecs:runTask.sync`.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { RunnerRefs } from '../../functions/workflow/definition.js';
import { REPO_ROOT } from '../repo.js';
import { acknowledgeWildcardResource } from '../nag.js';
import type { Data } from './data.js';

export const RUNNER_CONTAINER_NAME = 'runner';
export const RUNNER_DOCKERFILE = 'containers/runner/Dockerfile';

export interface RunnerProps {
  readonly data: Data;
  /** Environment of the runner container; RUNNER_CLUSTER_ARN is added here. */
  readonly environment: Record<string, string>;
  /**
   * NAT gateways for the runners' egress (provider and module downloads, AWS APIs).
   * One keeps the cost down; two survive the loss of an availability zone.
   * @default 1
   */
  readonly natGateways?: number;
}

export class Runner extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly securityGroup: ec2.SecurityGroup;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RunnerProps) {
    super(scope, id);

    // Environment-agnostic: maxAzs 2 renders Fn::GetAZs, no lookup at synth time.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'runners', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        // State, plans and log lines go to S3 and DynamoDB without crossing the NAT gateway.
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    // Runners execute user-supplied Terraform (and its providers): keep a record of every flow.
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      ),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Runway runner tasks: no inbound; outbound to providers, modules and AWS APIs',
      allowAllOutbound: true,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 2048,
      memoryLimitMiB: 4096,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH });

    this.container = this.taskDefinition.addContainer('Runner', {
      containerName: RUNNER_CONTAINER_NAME,
      // Build context: the repository root (the runner bundles code from functions/). The root
      // .dockerignore admits only what the image needs, so staging the asset stays fast.
      image: ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: RUNNER_DOCKERFILE,
        // Must match the task's cpuArchitecture above.
        platform: Platform.LINUX_ARM64,
      }),
      environment: { ...props.environment, RUNNER_CLUSTER_ARN: this.cluster.clusterArn },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'runner',
        logGroup: this.logGroup,
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      }),
      // An init process forwards SIGTERM (StopTask, cancel) to node, which interrupts Terraform
      // the way Ctrl-C does; Fargate allows at most 120 s before SIGKILL for it to save state.
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
      stopTimeout: Duration.seconds(120),
      essential: true,
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The runner\'s environment holds only resource names and ARNs (table, bucket, key, cluster, state machine) and per-run ids set by the state machine; no secret is passed in the environment.',
    });

    // The runner reads configuration and variables, writes log lines, plans and state, and only
    // decrypts secrets (sensitive variables).
    props.data.grantRuntimeAccess(this.taskDefinition.taskRole, 'decrypt');

    acknowledgeWildcardResource(
      this.taskDefinition.obtainExecutionRole(),
      '*',
      'ecr:GetAuthorizationToken supports no resource-level permission (IAM requires "*"); the image pull actions themselves are scoped to the CDK asset repository.',
    );
  }

  /** What the state-machine definition needs to start a runner task. */
  get refs(): RunnerRefs {
    return {
      clusterArn: this.cluster.clusterArn,
      taskDefinitionArn: this.taskDefinition.taskDefinitionArn,
      containerName: RUNNER_CONTAINER_NAME,
      subnets: this.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
      securityGroups: [this.securityGroup.securityGroupId],
    };
  }

  /** ARN pattern of the tasks of this cluster (long ARN format: task/<cluster>/<id>). */
  get taskArnPattern(): string {
    return Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
    });
  }
}
