/**
 * Facts from the operations runbook the bot shows and acts on: what each severity requires, the
 * escalation path, and where in the runbook each alert is handled. Pure data.
 */
export const SEVERITIES = ['SEV-1', 'SEV-2', 'SEV-3', 'SEV-4'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface SeverityRequirement {
  /** The runbook's definition ("Incident Severity Levels"). */
  readonly meaning: string;
  /** The runbook's "Response". */
  readonly response: string;
  /** The escalation matrix row. */
  readonly escalation: string;
  /** Whether the runbook pages for it (SEV-1/2) or only posts/tickets. */
  readonly pages: boolean;
}

export const SEVERITY_REQUIREMENTS: Readonly<Record<Severity, SeverityRequirement>> = {
  'SEV-1': {
    meaning: 'Critical: complete service outage, data loss or corruption, security breach',
    response: 'Page now, all hands',
    escalation: 'On-call engineer → 30 min: Senior SRE + Dev Lead → 1 h: CTO',
    pages: true,
  },
  'SEV-2': {
    meaning: 'High: partial service degradation, SLO breach affecting multiple users',
    response: 'Page on-call; escalate if not resolved in 30 min',
    escalation: 'On-call engineer → 30 min: Senior SRE → 1 h: Dev Lead',
    pages: true,
  },
  'SEV-3': {
    meaning: 'Medium: single component failure with redundancy, performance degradation',
    response: 'Slack alert; resolve within 4 hours',
    escalation: 'On-call engineer → next business day: Senior SRE',
    pages: false,
  },
  'SEV-4': {
    meaning: 'Low: minor issue, no user impact',
    response: 'Create a ticket; resolve in the next sprint',
    escalation: 'Ticket only',
    pages: false,
  },
};

/** The runbook's escalation path (levels L1–L4). */
export const ESCALATION_PATH = [
  'L1 On-call engineer',
  'L2 Senior SRE',
  'L3 Development team',
  'L4 Management',
] as const;

/** Where the runbook handles each of its alerts. */
export const RUNBOOK_SECTIONS: Readonly<Record<string, string>> = {
  HighErrorRate: 'Common Incident Scenarios › Scenario 1: High Error Rate',
  ServiceDown: 'Common Operational Tasks › Checking System Status / Restarting Services',
  DatabaseDown: 'Common Operational Tasks › Database Operations; Disaster Recovery',
  QueryLatencyHigh: 'Common Incident Scenarios › Scenario 2: Slow Query Performance',
  LowCacheHitRate: 'Common Operational Tasks › Redis Operations; Performance Tuning › Cache Optimization',
  HighMemoryUsage: 'Common Incident Scenarios › Scenario 3: Memory Leak',
};

export function runbookSection(
  alertname: string,
  annotations: Readonly<Record<string, string>> = {},
): string {
  return (
    RUNBOOK_SECTIONS[alertname] ?? annotations.runbook ?? 'Incident Response › Incident Response Workflow'
  );
}
