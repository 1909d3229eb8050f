/**
 * Errors the stand-in answers in PagerDuty's REST error shape
 * `{ error: { message, code, errors? } }` (REST-API/14-Errors.md). `pdCode` is PagerDuty's numeric
 * error code; `code` is this project's string code (STYLE: every error class sets one).
 */
import { QnwisError } from '../../errors.js';

export interface PagerDutyErrorBody {
  error: { message: string; code: number; errors?: string[] };
}

export class PagerDutyApiError extends QnwisError {
  readonly code = 'pagerduty_api_error';
  readonly httpStatus: number;
  readonly pdCode: number;
  readonly errors: readonly string[] | undefined;

  constructor(httpStatus: number, pdCode: number, message: string, errors?: readonly string[]) {
    super(message);
    this.httpStatus = httpStatus;
    this.pdCode = pdCode;
    this.errors = errors;
  }

  toBody(): PagerDutyErrorBody {
    return {
      error: {
        message: this.message,
        code: this.pdCode,
        ...(this.errors === undefined ? {} : { errors: [...this.errors] }),
      },
    };
  }
}

/**
 * The errors the stand-in uses, with PagerDuty's codes. Sources: REST-API/14-Errors.md (codes and
 * messages), REST-API/04-Rate-Limits.md (2020), and responses reported by API users for the `From`
 * header (missing: 2016 "You must specify a user's email address in the \"From\" header to perform
 * this action"; malformed: 1028; an address that is no user: 1008 "Requester User Not Found").
 */
export const pdErrors = {
  notFound: () => new PagerDutyApiError(404, 2100, 'Not Found'),
  authenticationFailed: () => new PagerDutyApiError(401, 2006, 'Authentication failed'),
  rateLimited: () => new PagerDutyApiError(429, 2020, 'Rate Limit Exceeded'),
  invalidInput: (...errors: string[]) => new PagerDutyApiError(400, 2001, 'Invalid Input Provided', errors),
  missingFrom: () =>
    new PagerDutyApiError(
      400,
      2016,
      'You must specify a user\'s email address in the "From" header to perform this action',
    ),
  malformedFrom: () => new PagerDutyApiError(400, 1028, 'Malformed "From" header'),
  requesterNotFound: () => new PagerDutyApiError(400, 1008, 'Requester User Not Found', []),
  alreadyResolved: () =>
    new PagerDutyApiError(400, 1001, 'Incident Already Resolved', ['Incident Already Resolved']),
  cannotEscalate: (detail: string) => new PagerDutyApiError(400, 1006, 'Cannot Escalate', [detail]),
  assigneeNotFound: () => new PagerDutyApiError(400, 1007, 'Assigned To User Not Found'),
  invalidStatus: () =>
    new PagerDutyApiError(400, 1003, 'Invalid Status Provided', [
      'Status must be one of acknowledged or resolved',
    ]),
} as const;
