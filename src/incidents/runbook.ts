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

/**
 * The runbook's clock: "Acknowledge alerts within 15 minutes" (On-Call Responsibilities) and the
 * Incident Response Workflow's diagnose < 30 min, mitigate < 1 h, resolve < 4 h, post-mortem < 48 h.
 * The workflow does not say what the 48 h count from; the bot counts them from the resolution.
 */
export const RESPONSE_TARGETS = {
  acknowledgeMinutes: 15,
  diagnoseMinutes: 30,
  mitigateMinutes: 60,
  resolveMinutes: 240,
  postmortemHours: 48,
} as const;

/**
 * "Maintenance Windows › Scheduled Maintenance": every 2nd Sunday, 02:00–04:00 UTC, announced 48 h
 * ahead. Read, as issue 7 does, as the second Sunday of each month (not every other Sunday).
 */
export const MAINTENANCE_WINDOW = {
  weekday: 'sun',
  ordinal: 2,
  startUtc: '02:00',
  endUtc: '04:00',
  noticeHours: 48,
} as const;
