import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUEUE_ATTR } from '../global/queue_file_write.js';
import { REC_TYPE } from '../global/rec_type.js';
import { encodeRecord } from '../global/record.js';
import { recipientsWritten } from './cleanup_bounce.js';

test('recipientsWritten: recipients with their original address and DSN attributes, from a partial file', () => {
  const recs = [
    encodeRecord(REC_TYPE.SIZE, '             0              0              0 0 0 0'),
    encodeRecord(REC_TYPE.FROM, 'a@example.com'),
    encodeRecord(REC_TYPE.ATTR, `${QUEUE_ATTR.DSN_ORCPT}=rfc822;B@example.net`),
    encodeRecord(REC_TYPE.ATTR, `${QUEUE_ATTR.DSN_NOTIFY}=6`),
    encodeRecord(REC_TYPE.ORCP, 'B@example.net'),
    encodeRecord(REC_TYPE.RCPT, 'b@example.net'),
    encodeRecord(REC_TYPE.ORCP, 'gone@example.net'),
    encodeRecord(REC_TYPE.DRCP, 'gone@example.net'),
    encodeRecord(REC_TYPE.ATTR, `${QUEUE_ATTR.DSN_NOTIFY}=99`),
    encodeRecord(REC_TYPE.RCPT, 'c@example.net'),
  ];
  const whole = Buffer.concat(recs);
  const partial = Buffer.concat([whole, encodeRecord(REC_TYPE.RCPT, 'cut@example.net').subarray(0, 5)]);
  const offsetOfB = Buffer.concat(recs.slice(0, 5)).length;
  assert.deepEqual(recipientsWritten(partial), [
    { origAddress: 'B@example.net', address: 'b@example.net', offset: offsetOfB, dsnOrcpt: 'rfc822;B@example.net', dsnNotify: 6 },
    { origAddress: 'c@example.net', address: 'c@example.net', offset: whole.length - encodeRecord(REC_TYPE.RCPT, 'c@example.net').length, dsnOrcpt: '', dsnNotify: 0 },
  ]);
});
