// Runs once before the specs: checks the environment, waits for the server, seeds the workload
// (workload.ts) and hands this session's parked events to the workers in TALLY_E2E_SESSION.
import { env, missingEnvironment, sk } from "./fixtures";
import { seed } from "./workload";

export default async function globalSetup(): Promise<void> {
  const missing = missingEnvironment();
  if (missing.length) throw new Error(`the console's end-to-end tests need ${missing.join(", ")}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await sk.budgets.listBudgets({ pageSize: 1 });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`tally at ${env.grpcUrl} does not answer with the secret key: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  const started = Date.now();
  const session = await seed();
  process.env.TALLY_E2E_SESSION = JSON.stringify(session);
  console.log(`workload seeded at ${env.grpcUrl} in ${Date.now() - started} ms (session ${session.stamp}); console at ${env.url}`);
}
