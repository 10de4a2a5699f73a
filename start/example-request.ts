// The request a new user pastes first. README.md shows the same text (a test holds them together) and
// CI's start check (scripts/check-readme-start.mjs) runs the README's copy against a real `npm start`.

/** Submits `print("hello")` in Python; answers 201 with the execution (its `id`) and a Location header. */
export function exampleSubmit(baseUrl: string): string {
  return [
    `curl -s -X POST ${baseUrl}/api/v1/executions \\`,
    `  -H 'content-type: application/json' \\`,
    `  -d '{"language":"python","script":"print(\\"hello\\")","limits":{"wallTimeMs":5000}}'`,
  ].join('\n');
}

/** Reads the execution back; `<id>` is the `id` the submission answered with. */
export function exampleRead(baseUrl: string): string {
  return `curl -s ${baseUrl}/api/v1/executions/<id>`;
}
