// Every budget with its scope, limits, enforcement and this month's spend against the monthly
// limit; create, edit and delete them (a secret key only).
import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Empty, ErrorBox, Page, Section } from "../components/page";
import { Bar, Money } from "../components/values";
import { BudgetEnforcement, BudgetScopeKind, type Budget } from "../gen/tally/v1/budgets_pb";
import { compareDecimal, shareOf } from "../money";
import { combined, useCall } from "../use_call";
import { ActionButton, OutcomeBox, ReadOnlyNote, type Outcome } from "./action_parts";
import "./budgets.css";

const SCOPES: [BudgetScopeKind, string, string][] = [
  [BudgetScopeKind.PROJECT, "project", "The whole project"],
  [BudgetScopeKind.CUSTOMER, "customer", "One customer"],
  [BudgetScopeKind.AGENT, "agent", "One agent (all customers)"],
  [BudgetScopeKind.CUSTOMER_AGENT, "customer-agent", "One agent for one customer"],
];

const ENFORCEMENTS: [BudgetEnforcement, string, string][] = [
  [BudgetEnforcement.ALERT, "alert", "Alert (flag the run, never deny)"],
  [BudgetEnforcement.BLOCK, "block", "Block (deny the step)"],
];

/** Every page of `ListBudgets`, oldest first. */
async function listAllBudgets(): Promise<Budget[]> {
  const budgets: Budget[] = [];
  let pageToken = "";
  do {
    const answer = await api.budgets.listBudgets({ pageSize: 100, pageToken });
    budgets.push(...answer.budgets);
    pageToken = answer.nextPageToken;
  } while (pageToken);
  return budgets;
}

type Open = { kind: "create" } | { kind: "edit"; id: string } | { kind: "delete"; id: string } | null;

export function Budgets(_props: Record<string, unknown>) {
  const [budgets, reload] = useCall("Budgets", listAllBudgets, []);
  const [open, setOpen] = useState<Open>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const done = (result: Outcome) => {
    setOutcome(result);
    if (result?.kind === "notice") {
      setOpen(null);
      reload();
    }
  };
  const toggle = (next: Open) => {
    setOutcome(null);
    setOpen(JSON.stringify(open) === JSON.stringify(next) ? null : next);
  };

  return (
    <Page
      name="budgets"
      title="Budgets"
      state={combined(budgets)}
      actions={
        <ActionButton action="create-budget" class="primary" aria-expanded={open?.kind === "create"} onClick={() => toggle({ kind: "create" })}>
          New budget
        </ActionButton>
      }
    >
      <ReadOnlyNote>Creating, changing and deleting budgets needs a secret key (sk_); this key only reads.</ReadOnlyNote>
      <OutcomeBox outcome={outcome} />
      {open?.kind === "create" && (
        <section class="card" data-section="create-budget">
          <h2>New budget</h2>
          <BudgetForm onDone={done} onCancel={() => setOpen(null)} />
        </section>
      )}
      <Section name="budgets" call={budgets}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No budgets yet. A budget limits the spend of the project, a customer or an agent per month or per run.</Empty>
          ) : (
            <table class="budgets">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Enforcement</th>
                  <th scope="col" class="num">Limits</th>
                  <th scope="col" class="num">Spent this month</th>
                  <th scope="col" class="num">Held</th>
                  <th scope="col" class="num">Remaining</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((budget) => {
                  const id = budget.budgetId;
                  const editing = open?.kind === "edit" && open.id === id;
                  const deleting = open?.kind === "delete" && open.id === id;
                  return [
                    <BudgetRow
                      key={id}
                      budget={budget}
                      editing={editing}
                      deleting={deleting}
                      onEdit={() => toggle({ kind: "edit", id })}
                      onDelete={() => toggle({ kind: "delete", id })}
                    />,
                    editing && (
                      <tr key={`${id} edit`} class="action-row">
                        <td colSpan={8}>
                          <BudgetForm budget={budget} onDone={done} onCancel={() => setOpen(null)} />
                        </td>
                      </tr>
                    ),
                    deleting && (
                      <tr key={`${id} delete`} class="action-row">
                        <td colSpan={8}>
                          <DeleteConfirm budget={budget} onDone={done} onCancel={() => setOpen(null)} />
                        </td>
                      </tr>
                    ),
                  ];
                })}
              </tbody>
            </table>
          )
        }
      </Section>
    </Page>
  );
}

function BudgetRow({
  budget,
  editing,
  deleting,
  onEdit,
  onDelete,
}: {
  budget: Budget;
  editing: boolean;
  deleting: boolean;
  onEdit: () => void;
  onDelete: () => void;
}) {
  const monthly = budget.monthlyLimitUsd;
  const spent = budget.monthSpentUsd;
  const held = budget.monthHeldUsd;
  const remaining = monthly && spent ? subtract(monthly, spent, held || "0") : "";
  const full = remaining !== "" && compareDecimal(remaining, "0") <= 0;
  const exceeded = monthly !== "" && spent !== "" && compareDecimal(spent, monthly) > 0;
  const windows = [monthly && "month", budget.perRunLimitUsd && "run"].filter(Boolean).join(" + ");
  return (
    <tr data-budget={budget.budgetId} data-scope={scopeName(budget.scope?.kind)} class={full ? "over" : undefined}>
      <td class="name">{budget.name}</td>
      <td>
        <Scope budget={budget} />
      </td>
      <td data-enforcement={enforcementName(budget.enforcement)}>
        <span class={budget.enforcement === BudgetEnforcement.BLOCK ? "tag block" : "tag"}>{enforcementName(budget.enforcement)}</span>
      </td>
      <td class="num limits" data-window={windows}>
        {monthly && (
          <div>
            <Money figure="limit" value={monthly} /> <span class="muted">a month</span>
          </div>
        )}
        {budget.perRunLimitUsd && (
          <div>
            <Money figure="per-run-limit" value={budget.perRunLimitUsd} /> <span class="muted">a run</span>
          </div>
        )}
      </td>
      <td class="num spend">
        {spent ? <Money figure="spend" value={spent} /> : "—"}
        {monthly && spent && (
          <span class="share" title={`Spent ${spent} of ${monthly} USD this month`}>
            <Bar share={shareOf(spent, monthly)} label={`${budget.name}: spent of the monthly limit`} warn={full} />
          </span>
        )}
      </td>
      <td class="num">{held ? <Money figure="held" value={held} /> : "—"}</td>
      <td class="num">
        {remaining ? <Money figure="remaining" value={remaining} /> : "—"}
        {exceeded && (
          <div>
            <span class="flag">exceeded</span>
          </div>
        )}
      </td>
      <td>
        <div class="row-actions">
          <ActionButton action="edit-budget" aria-expanded={editing} onClick={onEdit}>
            Edit
          </ActionButton>
          <ActionButton action="delete-budget" class="danger" aria-expanded={deleting} onClick={onDelete}>
            Delete
          </ActionButton>
        </div>
      </td>
    </tr>
  );
}

function Scope({ budget }: { budget: Budget }) {
  const scope = budget.scope;
  switch (scope?.kind) {
    case BudgetScopeKind.PROJECT:
      return <span>Project</span>;
    case BudgetScopeKind.CUSTOMER:
      return (
        <span>
          Customer <code>{scope.customerId}</code>
        </span>
      );
    case BudgetScopeKind.AGENT:
      return (
        <span>
          Agent <code>{scope.agentCode}</code>
        </span>
      );
    case BudgetScopeKind.CUSTOMER_AGENT:
      return (
        <span>
          Agent <code>{scope.agentCode}</code> for customer <code>{scope.customerId}</code>
        </span>
      );
    default:
      return <span>—</span>;
  }
}

/**
 * Creates a budget, or edits one (name, limits, enforcement: the scope is fixed). Values go as
 * typed: the server checks them and its INVALID_ARGUMENT names the field.
 */
function BudgetForm({ budget, onDone, onCancel }: { budget?: Budget; onDone: (outcome: Outcome) => void; onCancel: () => void }) {
  const editing = budget !== undefined;
  const [name, setName] = useState(budget?.name ?? "");
  const [kind, setKind] = useState(budget?.scope?.kind ?? BudgetScopeKind.PROJECT);
  const [customerId, setCustomerId] = useState(budget?.scope?.customerId ?? "");
  const [agentCode, setAgentCode] = useState(budget?.scope?.agentCode ?? "");
  const [monthly, setMonthly] = useState(budget?.monthlyLimitUsd ?? "");
  const [perRun, setPerRun] = useState(budget?.perRunLimitUsd ?? "");
  const [enforcement, setEnforcement] = useState(budget?.enforcement ?? BudgetEnforcement.ALERT);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const needsCustomer = kind === BudgetScopeKind.CUSTOMER || kind === BudgetScopeKind.CUSTOMER_AGENT;
  const needsAgent = kind === BudgetScopeKind.AGENT || kind === BudgetScopeKind.CUSTOMER_AGENT;

  const submit = async (event: Event) => {
    event.preventDefault();
    onDone(null);
    setBusy(true);
    setError("");
    try {
      if (!budget) {
        const answer = await api.budgets.createBudget({
          budget: {
            name,
            scope: { kind, customerId: needsCustomer ? customerId : "", agentCode: needsAgent ? agentCode : "" },
            monthlyLimitUsd: monthly,
            perRunLimitUsd: perRun,
            enforcement,
          },
        });
        const created = answer.budget;
        onDone({
          kind: "notice",
          content: (
            <span data-outcome="created" data-budget={created?.budgetId}>
              Created budget “{created?.name ?? name}”.
            </span>
          ),
        });
        return;
      }
      // The mask names the fields changed, so a cleared limit is cleared and nothing else is
      // written over.
      const changed: [string, string, boolean][] = [
        ["name", "name", name !== budget.name],
        ["monthly_limit_usd", "monthly limit", monthly !== budget.monthlyLimitUsd],
        ["per_run_limit_usd", "per-run limit", perRun !== budget.perRunLimitUsd],
        ["enforcement", "enforcement", enforcement !== budget.enforcement],
      ];
      const paths = changed.filter(([, , differs]) => differs);
      if (paths.length === 0) {
        setError("Nothing to save: no field was changed.");
        return;
      }
      const answer = await api.budgets.updateBudget({
        budget: { budgetId: budget.budgetId, name, monthlyLimitUsd: monthly, perRunLimitUsd: perRun, enforcement },
        updateMask: { paths: paths.map(([path]) => path) },
      });
      onDone({
        kind: "notice",
        content: (
          <span data-outcome="updated" data-budget={budget.budgetId}>
            Saved budget “{answer.budget?.name ?? name}”: changed {paths.map(([, words]) => words).join(", ")}.
          </span>
        ),
      });
    } catch (failure) {
      setError(describeError(editing ? `Saving budget “${budget.name}”` : "Creating the budget", failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form budget-form" data-form={editing ? "edit-budget" : "create-budget"} data-budget={budget?.budgetId} onSubmit={submit}>
      <label>
        Name
        <input name="name" value={name} maxLength={256} onInput={(event) => setName(event.currentTarget.value)} />
      </label>
      {editing ? (
        <p class="fixed-scope">
          <span class="label">Scope (fixed)</span>
          <Scope budget={budget} />
        </p>
      ) : (
        <>
          <label>
            Scope
            <select name="scope" value={String(kind)} onChange={(event) => setKind(Number(event.currentTarget.value) as BudgetScopeKind)}>
              {SCOPES.map(([value, , words]) => (
                <option key={value} value={String(value)}>
                  {words}
                </option>
              ))}
            </select>
          </label>
          {needsCustomer && (
            <label>
              Customer id
              <input name="customer_id" value={customerId} autocomplete="off" onInput={(event) => setCustomerId(event.currentTarget.value)} />
            </label>
          )}
          {needsAgent && (
            <label>
              Agent code
              <input name="agent_code" value={agentCode} autocomplete="off" onInput={(event) => setAgentCode(event.currentTarget.value)} />
            </label>
          )}
        </>
      )}
      <label>
        Monthly limit (USD, UTC month)
        <input
          name="monthly_limit_usd"
          inputMode="decimal"
          autocomplete="off"
          placeholder="empty: none"
          value={monthly}
          onInput={(event) => setMonthly(event.currentTarget.value)}
        />
      </label>
      <label>
        Per-run limit (USD)
        <input
          name="per_run_limit_usd"
          inputMode="decimal"
          autocomplete="off"
          placeholder="empty: none"
          value={perRun}
          onInput={(event) => setPerRun(event.currentTarget.value)}
        />
      </label>
      <label>
        Enforcement
        <select
          name="enforcement"
          value={String(enforcement)}
          onChange={(event) => setEnforcement(Number(event.currentTarget.value) as BudgetEnforcement)}
        >
          {ENFORCEMENTS.map(([value, , words]) => (
            <option key={value} value={String(value)}>
              {words}
            </option>
          ))}
        </select>
      </label>
      <div class="form-actions">
        <ActionButton action="save-budget" type="submit" class="primary" disabled={busy}>
          {busy ? "Saving…" : editing ? "Save" : "Create budget"}
        </ActionButton>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && (
        <div class="wide">
          <ErrorBox message={error} />
        </div>
      )}
    </form>
  );
}

function DeleteConfirm({ budget, onDone, onCancel }: { budget: Budget; onDone: (outcome: Outcome) => void; onCancel: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const remove = async () => {
    onDone(null);
    setBusy(true);
    setError("");
    try {
      await api.budgets.deleteBudget({ budgetId: budget.budgetId });
      onDone({
        kind: "notice",
        content: (
          <span data-outcome="deleted" data-budget={budget.budgetId}>
            Deleted budget “{budget.name}”.
          </span>
        ),
      });
    } catch (failure) {
      setError(describeError(`Deleting budget “${budget.name}”`, failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="confirm" role="alertdialog" aria-label={`Delete budget ${budget.name}`} data-budget={budget.budgetId}>
      <p>
        Delete budget “{budget.name}”? Checks stop counting it at once; this cannot be undone.
        {budget.monthSpentUsd && (
          <>
            {" "}
            It has <Money value={budget.monthSpentUsd} /> spent this month.
          </>
        )}
      </p>
      <div class="form-actions">
        <ActionButton action="confirm-delete" class="danger" disabled={busy} onClick={remove}>
          {busy ? "Deleting…" : "Delete"}
        </ActionButton>
        <button type="button" onClick={onCancel}>
          Keep it
        </button>
      </div>
      {error && <ErrorBox message={error} />}
    </div>
  );
}

function scopeName(kind: BudgetScopeKind | undefined): string {
  return SCOPES.find(([value]) => value === kind)?.[1] ?? "unknown";
}

function enforcementName(enforcement: BudgetEnforcement): string {
  return ENFORCEMENTS.find(([value]) => value === enforcement)?.[1] ?? "unknown";
}

/**
 * `a` minus each of `rest`, exactly, with 10 decimal places (the contract's precision): the
 * remaining room as `CheckBudget` counts it (limit minus spent minus held). Bigint on units of
 * 1e-10, never a JavaScript number.
 */
function subtract(a: string, ...rest: string[]): string {
  const units = rest.reduce((total, value) => total - scaled(value), scaled(a));
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(11, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -10)}.${digits.slice(-10)}`;
}

function scaled(value: string): bigint {
  const parts = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
  if (!parts) return 0n;
  const [, sign, whole, fraction = ""] = parts;
  const units = BigInt(whole + fraction.padEnd(10, "0").slice(0, 10));
  return sign === "-" ? -units : units;
}
