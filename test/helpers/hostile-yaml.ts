// YAML texts that crashed meshd before issue 14, shared by the unit and e2e tests.

/** The texts that crashed meshd before (issue 14). */
export const HOSTILE: Readonly<Record<string, string>> = {
  'alias-bomb.yaml': 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
  'nested-flow.yaml': '['.repeat(100_000),
  'nested-block.yaml': Array.from({ length: 3000 }, (_, i) => ' '.repeat(i) + 'a:').join('\n') + ' 1\n',
};
