// The little of Node.js the tests use, declared here rather than adding @types/node to package.json
// for a type check (`npx tsc -p console/e2e`). Playwright runs the files without checking types.
declare const process: { env: Record<string, string | undefined> };
declare const __dirname: string;
declare module "node:fs" {
  export function mkdirSync(path: string, options?: { recursive?: boolean }): string | undefined;
}
declare module "node:path" {
  export function join(...parts: string[]): string;
  export function resolve(...parts: string[]): string;
}
