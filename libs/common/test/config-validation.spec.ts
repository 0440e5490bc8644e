import { parseAbsolutePath, parseDurationMs, parseEnum, parseInteger, WsError, WsErrorCode, errnoCodeOf } from '../src';

describe('config validation', () => {
  it('parses integers within bounds and names the setting when out of bounds', () => {
    expect(parseInteger('--root-uid', '33333', { min: 1 })).toBe(33333);
    expect(() => parseInteger('--root-uid', '0', { min: 1 })).toThrow('invalid --root-uid: 0 is below the minimum 1');
    expect(() => parseInteger('--root-uid', '12x')).toThrow('"12x" is not an integer');
    expect(parseInteger('--n', undefined, { default: 5 })).toBe(5);
  });

  it('accepts only absolute paths and strips trailing slashes', () => {
    expect(parseAbsolutePath('--state-dir', '/var/lib/wsrun/')).toBe('/var/lib/wsrun');
    expect(() => parseAbsolutePath('--state-dir', 'relative/dir')).toThrow('is not an absolute path');
  });

  it('parses durations with units', () => {
    expect(parseDurationMs('--grace', '20s', 1)).toBe(20_000);
    expect(parseDurationMs('--grace', '250ms', 1)).toBe(250);
    expect(parseDurationMs('--grace', undefined, 7)).toBe(7);
    expect(() => parseDurationMs('--grace', 'soon', 1)).toThrow('is not a duration');
  });

  it('rejects values outside an enum', () => {
    expect(parseEnum('--storage', 's3', ['local', 's3'] as const, 'local')).toBe('s3');
    expect(() => parseEnum('--storage', 'ftp', ['local', 's3'] as const, 'local')).toThrow('"ftp" is not one of local, s3');
  });
});

describe('WsError', () => {
  it('keeps the code and the errno of the cause when wrapped', () => {
    const errno = Object.assign(new Error('mount: permission denied'), { code: 'EPERM' });
    const err = WsError.wrap('mounting proc', new WsError(WsErrorCode.PermissionDenied, 'refused', { cause: errno }));
    expect(err.code).toBe(WsErrorCode.PermissionDenied);
    expect(err.message).toBe('mounting proc: refused');
    expect(errnoCodeOf(err)).toBe('EPERM');
  });
});
