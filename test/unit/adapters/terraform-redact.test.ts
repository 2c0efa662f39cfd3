import { describe, expect, it } from 'vitest';
import { redactor, terraformErrorLine } from '../../../lib/adapters/terraform/runner.ts';

const PEM = ['-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'q2Xr9mZ0a1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ+/==', '-----END PRIVATE KEY-----'].join('\n');

/** Every line of the text, redacted one at a time as the runner does. */
const byLine = (clean: (t: string) => string, text: string): string => text.split('\n').map(clean).join('\n');

describe('secret redaction in Terraform output', () => {
  it('replaces every occurrence, longest secret first, and leaves short values alone', () => {
    const clean = redactor(['s3cr3t-token', 's3cr3t', 'ab']);
    expect(clean('key = "s3cr3t-token", other = "s3cr3t", x = "ab"')).toBe('key = "(sensitive)", other = "(sensitive)", x = "ab"');
    expect(redactor([])('nothing to hide')).toBe('nothing to hide');
  });

  it('hides every scalar of a structured secret, in the HCL form a plan prints and in JSON', () => {
    // Prepare: a sensitive map output, as its consumer receives it (decoded) and as it is stored (JSON text)
    const creds = { user: 'admin-user', password: 'hunter2-pass', port: 54321, hosts: ['db-a.internal', 'db-b.internal'], tls: true };
    const clean = redactor([creds, JSON.stringify(creds)]);
    const plan = [
      '  + input = {',
      '      + hosts    = [',
      '          + "db-a.internal",',
      '          + "db-b.internal",',
      '        ]',
      '      + password = "hunter2-pass"',
      '      + port     = 54321',
      '      + user     = "admin-user"',
      '    }',
      '  + creds = { "password" = "hunter2-pass", "user" = "admin-user" }',
      JSON.stringify(creds),
      JSON.stringify(JSON.stringify(creds)),
    ].join('\n');
    // Act
    const out = byLine(clean, plan);
    // Assess: no leaf survives; keys, booleans and the structure do
    for (const leaf of ['admin-user', 'hunter2-pass', '54321', 'db-a.internal', 'db-b.internal']) expect(out).not.toContain(leaf);
    expect(out).toContain('+ password = "(sensitive)"');
    expect(out).toContain('"(sensitive)",');
    expect(out).toContain('"password" = "(sensitive)"');
  });

  it('hides a secret with quotes and backslashes in every escaping: raw, JSON, Go/HCL-quoted, JSON inside HCL', () => {
    // Prepare
    const secret = 'p@ss"word\\with<tag>&${x}\x1b';
    const clean = redactor([secret]);
    const printed = [
      `raw: ${secret}`,
      `json: ${JSON.stringify(secret)}`,
      `go json: ${JSON.stringify(secret).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')}`,
      `hcl: "p@ss\\"word\\\\with<tag>&\${x}\\x1b"`, // as a plan shows it (checked with terraform 1.11)
      `hcl template: "p@ss\\"word\\\\with<tag>&$\${x}\\x1b"`,
      `json in hcl: ${JSON.stringify(JSON.stringify(secret))}`,
      `json in hcl, go: "${JSON.stringify(JSON.stringify({ k: secret }).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')).slice(1, -1)}"`,
    ];
    // Act
    const out = printed.map(clean);
    // Assess
    expect(out).toEqual([
      'raw: (sensitive)',
      'json: "(sensitive)"',
      'go json: "(sensitive)"',
      'hcl: "(sensitive)"',
      'hcl template: "(sensitive)"',
      'json in hcl: "\\"(sensitive)\\""',
      'json in hcl, go: "{\\"k\\":\\"(sensitive)\\"}"',
    ]);
  });

  it('hides each line of a multi-line secret (a PEM key) printed raw, as a heredoc, and JSON-escaped', () => {
    // Prepare
    const clean = redactor([PEM]);
    const heredoc = ['  + key = <<-EOT', ...PEM.split('\n').map((l) => `        ${l}`), '    EOT'].join('\n');
    // Act
    const raw = byLine(clean, PEM);
    const shown = byLine(clean, heredoc);
    const json = clean(`"key": ${JSON.stringify(PEM)}`);
    const control = clean(`key = "${PEM.replace(/\n/g, '\\n')}\\x1b"`);
    // Assess
    for (const line of PEM.split('\n')) {
      for (const out of [raw, shown, json, control]) expect(out).not.toContain(line);
    }
    expect(shown.split('\n')).toEqual(['  + key = <<-EOT', ...PEM.split('\n').map(() => '        (sensitive)'), '    EOT']);
    expect(json).toBe('"key": "(sensitive)"');
  });

  it('hides an element of a map in a multi-line secret value, line by line', () => {
    const clean = redactor([{ tls: { key: PEM, cert: 'cert-body-0123' } }]);
    const out = byLine(clean, ['tls = {', '  cert = "cert-body-0123"', '  key  = <<-EOT', PEM, 'EOT', '}'].join('\n'));
    expect(out).not.toMatch(/cert-body|MIIEvQ|q2Xr9m|PRIVATE KEY/);
  });

  it('merges overlapping secrets into one replacement and never re-redacts its own placeholder', () => {
    // Prepare: two secrets sharing characters; a secret that occurs in the word "(sensitive)"
    const clean = redactor(['abcd-1234', '1234-wxyz', 'sens']);
    // Act + Assess
    expect(clean('x=abcd-1234-wxyz y')).toBe('x=(sensitive) y');
    expect(clean('sens and abcd-1234')).toBe('(sensitive) and (sensitive)');
  });

  it('hides the leaves of a JSON map held in a string secret (a structured SecureString read through ${ssm:...})', () => {
    const clean = redactor([JSON.stringify({ user: 'admin-user', password: 'hunter2-pass' })]);
    expect(clean('password = "hunter2-pass", user = "admin-user"')).toBe('password = "(sensitive)", user = "(sensitive)"');
  });

  it('does not redact short leaves, booleans or null, in any encoding', () => {
    const clean = redactor([{ a: 'x"y', on: true, none: null, n: 80 }]);
    expect(clean('a = "x\\"y", on = true, none = null, n = 80')).toBe('a = "x\\"y", on = true, none = null, n = 80');
  });

  it('a Terraform error is its title and its whole explanation, wrapped lines joined, without the source excerpt or warnings', () => {
    // Prepare: what terraform 1.11 prints for a failed validation, after a CLI-config warning
    const stderr = [
      '╷',
      '│ Warning: Unable to open CLI configuration file',
      '│',
      '│ The CLI configuration file at "/root/.terraformrc" does not exist.',
      '╵',
      '',
      'Error: Invalid value for variable',
      '',
      '  on main.tf line 1:',
      '   1: variable "x" {',
      '    ├────────────────',
      '    │ var.x is "a"',
      '',
      'x must be b; it is the only value this module accepts. Use b, which is the',
      'value that this module was written for and tested with.',
      '',
      'This was checked by the validation rule at main.tf:3,3-13.',
      '',
      'Error: local-exec provisioner error',
    ].join('\n');
    // Act / Assess
    expect(terraformErrorLine({ code: 1, stdout: '', stderr })).toBe(
      'Error: Invalid value for variable: x must be b; it is the only value this module accepts. Use b, which is the value that this module was written for and tested with. This was checked by the validation rule at main.tf:3,3-13.',
    );
    const provisioner = ['Error: local-exec provisioner error', '', '  with terraform_data.q,', '  on main.tf line 10, in resource "terraform_data" "q":', '  10:   provisioner "local-exec" { command = "echo boom; exit 3" }', '', "Error running command 'echo boom; exit 3': exit status 3. Output: boom", ''].join('\n');
    expect(terraformErrorLine({ code: 1, stdout: '', stderr: provisioner })).toBe("Error: local-exec provisioner error: Error running command 'echo boom; exit 3': exit status 3. Output: boom");
    expect(terraformErrorLine({ code: 1, stdout: '', stderr: `Error: x\n\n${'y'.repeat(2000)}` })).toHaveLength(1500);
  });

  it('picks the explanation line of a Terraform error', () => {
    const stderr = ['', 'Error: Invalid value for variable', '', '  on karma.tfvars.json line 7:', '   7:   "node_type": "m5.large"', '    ├────────────────', '    │ var.node_type is "m5.large"', '', 'node_type must be an ElastiCache node type.', ''].join('\n');
    expect(terraformErrorLine({ code: 1, stdout: '', stderr })).toBe('Error: Invalid value for variable: node_type must be an ElastiCache node type.');
  });
});
