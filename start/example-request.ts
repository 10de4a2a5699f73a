// The request a new user pastes first. README.md shows the same text (a test holds them together) and
// CI's start check (scripts/check-readme-start.mjs) runs the README's copy against a real `npm start`.
// Both authenticate with the admin key `npm start` keeps for this machine in the state dir.

/** The header the examples send: this machine's admin key, read from the file `npm start` wrote. */
export const EXAMPLE_AUTH_HEADER = '-H "authorization: Bearer $(cat .stack/admin-key)"';

/** Submits `print("hello")` in Python; answers 201 with the execution (its `id`) and a Location header. */
export function exampleSubmit(baseUrl: string): string {
  return [
    `curl -s -X POST ${baseUrl}/api/v1/executions \\`,
    `  ${EXAMPLE_AUTH_HEADER} \\`,
    `  -H 'content-type: application/json' \\`,
    `  -d '{"language":"python","script":"print(\\"hello\\")","limits":{"wallTimeMs":5000}}'`,
  ].join('\n');
}

/** Reads the execution back; `<id>` is the `id` the submission answered with. */
export function exampleRead(baseUrl: string): string {
  return `curl -s ${EXAMPLE_AUTH_HEADER} ${baseUrl}/api/v1/executions/<id>`;
}
