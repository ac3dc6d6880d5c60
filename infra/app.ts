/**
 * The CDK app: `npx cdk synth` (see cdk.json). cdk-nag's AWS Solutions pack runs as a policy
 * validation plugin: synth fails on any finding not acknowledged with a reason.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RunwayStack } from './stack.js';

const app = new App();
new RunwayStack(app, 'Runway');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
