import { describe, expect, it } from 'vitest';
import { redactor, terraformErrorLine } from '../../../lib/adapters/terraform/runner.ts';

describe('secret redaction in Terraform output', () => {
  it('replaces every occurrence, longest secret first, and leaves short values alone', () => {
    const clean = redactor(['s3cr3t-token', 's3cr3t', 'ab']);
    expect(clean('key = "s3cr3t-token", other = "s3cr3t", x = "ab"')).toBe('key = "(sensitive)", other = "(sensitive)", x = "ab"');
    expect(redactor([])('nothing to hide')).toBe('nothing to hide');
  });

  it('picks the explanation line of a Terraform error', () => {
    const stderr = ['', 'Error: Invalid value for variable', '', '  on karma.tfvars.json line 7:', '   7:   "node_type": "m5.large"', '    ├────────────────', '    │ var.node_type is "m5.large"', '', 'node_type must be an ElastiCache node type.', ''].join('\n');
    expect(terraformErrorLine({ code: 1, stdout: '', stderr })).toBe('Error: Invalid value for variable: node_type must be an ElastiCache node type.');
  });
});
