import { describe, expect, it } from 'vitest';
import {
  INCIDENT_CONTROL_ACTIONS,
  incidentControls,
  keyOfControls,
  RESOLVE_MODAL_CALLBACK,
  resolveModal,
} from '../../src/bot/blocks/incident-controls.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import type { IncidentView } from '../../src/bot/blocks/view.js';

function view(over: Partial<IncidentView> = {}): IncidentView {
  return {
    key: 'QNWIS-12',
    alertname: 'DatabaseDown',
    severity: 'SEV-1',
    status: 'firing',
    summary: '',
    description: '',
    hosts: { firing: ['db-primary'], resolved: [] },
    alerts: { firing: 1, resolved: 0 },
    openedAt: new Date('2026-11-27T21:42:00.000Z'),
    resolvedAt: null,
    acknowledgedBy: null,
    runbookSection: null,
    links: { graph: null, silence: null, pagerduty: null, alertmanager: null },
    nextEscalation: null,
    diagnosis: null,
    proposedActions: [],
    ...over,
  } as IncidentView;
}

const ids = (v: IncidentView) =>
  incidentControls(v).flatMap((b) => b.elements.map((e) => (e as { action_id: string }).action_id));

describe('incident controls', () => {
  it('a firing incident offers Acknowledge, Resolve, Escalate now and Reassign; no snooze before an ack', () => {
    expect(ids(view())).toEqual([
      INCIDENT_CONTROL_ACTIONS.acknowledge,
      INCIDENT_CONTROL_ACTIONS.resolve,
      INCIDENT_CONTROL_ACTIONS.escalate,
      INCIDENT_CONTROL_ACTIONS.reassign,
    ]);
  });

  it('an acknowledged one offers Snooze instead of Acknowledge; a resolved one nothing', () => {
    expect(ids(view({ status: 'acknowledged', acknowledgedBy: 'Omar' }))).toEqual([
      INCIDENT_CONTROL_ACTIONS.resolve,
      INCIDENT_CONTROL_ACTIONS.escalate,
      INCIDENT_CONTROL_ACTIONS.snooze,
      INCIDENT_CONTROL_ACTIONS.reassign,
    ]);
    expect(incidentControls(view({ status: 'resolved' }))).toEqual([]);
  });

  it('escalating asks for confirmation; selects find their incident through the block id', () => {
    const [block] = incidentControls(view({ status: 'acknowledged' }));
    const escalate = block?.elements.find(
      (e) => (e as { action_id: string }).action_id === 'incident.escalate',
    );
    expect(escalate).toHaveProperty('confirm.confirm.text', 'Escalate');
    expect(keyOfControls(block?.block_id)).toBe('QNWIS-12');
    expect(keyOfControls('something.else')).toBeNull();
    expect(checkSlackLimits({ blocks: incidentControls(view({ status: 'acknowledged' })) })).toEqual([]);
  });

  it('a key too long for a block id loses the selects, never the validity', () => {
    const long = view({ key: `K${'x'.repeat(400)}`, status: 'acknowledged' });
    expect(ids(long)).toEqual([INCIDENT_CONTROL_ACTIONS.resolve, INCIDENT_CONTROL_ACTIONS.escalate]);
    expect(checkSlackLimits({ blocks: incidentControls(long) })).toEqual([]);
  });

  it('the resolve dialog requires a note and warns when alerts still fire', () => {
    const modal = resolveModal('QNWIS-12', 2);
    expect(modal.callback_id).toBe(RESOLVE_MODAL_CALLBACK);
    expect(modal.private_metadata).toBe('QNWIS-12');
    expect(JSON.stringify(modal.blocks)).toContain('2 alerts are still firing');
    expect(JSON.stringify(resolveModal('QNWIS-12', 0).blocks)).not.toContain('still firing');
  });
});
