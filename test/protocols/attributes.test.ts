import test from 'ava';
import { Value } from '@sinclair/typebox/value';
import {
  AttributeParseError,
  AttributesSchema,
  attributeValue,
  formatAttributes,
  parseAttributes,
} from '../../protocols/attributes.ts';

test('parseAttributes types each value', (t) => {
  // r1 and a are text; 2 is a number; [1-3] is a range; {b,a} a set (sorted).
  const attrs = parseAttributes('rack:r1;zone:a;level:2;rooms:[1-3];disks:{ssd, hdd}');
  t.deepEqual(attrs, [
    { name: 'rack', type: 'TEXT', text: 'r1' },
    { name: 'zone', type: 'TEXT', text: 'a' },
    { name: 'level', type: 'SCALAR', scalar: 2 },
    { name: 'rooms', type: 'RANGES', ranges: [{ begin: 1, end: 3 }] },
    { name: 'disks', type: 'SET', set: ['hdd', 'ssd'] },
  ]);
  t.true(Value.Check(AttributesSchema, attrs));
});

test('numbers, text and whitespace', (t) => {
  // -1.5 and 1e3 are numbers; 1-3 (no brackets) and v1.2 are text; spaces around tokens are dropped.
  t.deepEqual(parseAttributes(' temp : -1.5 ; big:1e3; span:1-3 ;ver:v1.2; '), [
    { name: 'temp', type: 'SCALAR', scalar: -1.5 },
    { name: 'big', type: 'SCALAR', scalar: 1000 },
    { name: 'span', type: 'TEXT', text: '1-3' },
    { name: 'ver', type: 'TEXT', text: 'v1.2' },
  ]);
  t.deepEqual(parseAttributes(''), []);
  // Ranges merge like resource ranges: [5-6,1-4] → [1-6].
  t.deepEqual(parseAttributes('r:[5-6,1-4]'), [{ name: 'r', type: 'RANGES', ranges: [{ begin: 1, end: 6 }] }]);
});

test('formatAttributes round-trips', (t) => {
  const text = 'rack:r1;zone:a;level:2;rooms:[1-3,7-9];disks:{hdd,ssd};weight:0.5';
  t.is(formatAttributes(parseAttributes(text)), text);
  t.is(formatAttributes([]), '');
});

test('attributeValue returns the typed value or undefined', (t) => {
  const attrs = parseAttributes('rack:r1;level:2;rooms:[1-3];disks:{ssd}');
  t.is(attributeValue(attrs, 'rack'), 'r1');
  t.is(attributeValue(attrs, 'level'), 2);
  t.deepEqual(attributeValue(attrs, 'rooms'), [{ begin: 1, end: 3 }]);
  t.deepEqual(attributeValue(attrs, 'disks'), ['ssd']);
  t.is(attributeValue(attrs, 'missing'), undefined);
});

const badInputs: [input: string, token: string, reason: RegExp][] = [
  [':r1', ':r1', /name is empty/],
  ['rack', 'rack', /missing ':'/],
  ['zone:a;rack', 'rack', /missing ':'/],
  ['rack:', 'rack:', /value is empty/],
  ['rooms:[3-1]', 'rooms:[3-1]', /range begin 3 is greater than end 1/],
  ['rooms:[1-3', 'rooms:[1-3', /enclosed/],
  ['rooms:[x]', 'rooms:[x]', /not of the form/],
  ['a:b:c', 'a:b:c', /exactly one ':'/],
  ['s:{a,,b}', 's:{a,,b}', /empty item/],
  ['s:{a', 's:{a', /enclosed/],
  ['t:1-3]', 't:1-3]', /bracket/],
  ['my rack:r1', 'my rack:r1', /forbidden character/],
  ['rack:r1;rack:r2', 'rack:r2', /more than once/],
  ['n:1e400', 'n:1e400', /not finite/],
];

for (const [input, token, reason] of badInputs) {
  test(`attribute parse error names the token: ${JSON.stringify(input)}`, (t) => {
    const err = t.throws(() => parseAttributes(input), { instanceOf: AttributeParseError });
    t.is(err.name, 'AttributeParseError');
    t.is(err.token, token);
    t.true(err.message.includes(`'${token}'`), err.message);
    t.regex(err.message, reason);
  });
}
