/**
 * cdk-nag acknowledgements (cdk-nag 3: `Validations.of(c).acknowledge({ id, reason })`, one id at a
 * time). IAM5 findings are acknowledged one by one (`AwsSolutions-IAM5[Resource::…]`), never the
 * whole rule, so that a new wildcard still fails synth until someone writes down why.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Renders a (tokenized) string the way cdk-nag names it in a finding: `Fn::GetAtt` as
 * `<LogicalId.Attr>`, `Ref` as `<LogicalId>` or `<AWS::Region>`, `Fn::Join` concatenated.
 */
export function nagName(scope: IConstruct, value: string): string {
  return flatten(Stack.of(scope).resolve(value));
}

function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if ('Fn::Sub' in o) return flatten(o['Fn::Sub']);
    if ('Fn::GetAtt' in o) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if ('Ref' in o) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** Acknowledges one wildcard resource of an IAM policy under `scope` (e.g. a role). */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagName(scope, resource)}]`, reason });
}

/** Acknowledges one wildcard action of an IAM policy under `scope` (e.g. a role). */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
}
