import { formatObjectRef, objectRef, parseObjectRef, validateListPrefix } from '../src';

describe('object refs', () => {
  it('parses and formats the canonical object@bucket form', () => {
    expect(parseObjectRef('workspaces/ws-1/full.tar@user-42')).toEqual({ bucket: 'user-42', object: 'workspaces/ws-1/full.tar' });
    expect(formatObjectRef({ bucket: 'user-42', object: 'workspaces/ws-1/full.tar' })).toBe('workspaces/ws-1/full.tar@user-42');
    // object names may contain "@"; bucket names cannot, so the last one splits
    expect(parseObjectRef('mail/a@b.tar@backups')).toEqual({ bucket: 'backups', object: 'mail/a@b.tar' });
    expect(parseObjectRef(formatObjectRef(objectRef('my.bucket-1', 'ünïcödé/ファイル name.txt')))).toEqual({
      bucket: 'my.bucket-1',
      object: 'ünïcödé/ファイル name.txt',
    });
  });

  it('refuses strings that are not object@bucket', () => {
    expect(() => parseObjectRef('no-bucket-here')).toThrow('invalid object ref "no-bucket-here": expected "object@bucket"');
    expect(() => parseObjectRef('object@')).toThrow('invalid bucket name "": must be 3 to 63 characters long');
    expect(() => parseObjectRef('@bucket')).toThrow('invalid object name "": must not be empty');
  });

  it.each([
    ['ab', 'must be 3 to 63 characters long'],
    ['a'.repeat(64), 'must be 3 to 63 characters long'],
    ['User-42', 'use lowercase letters, digits'],
    ['-bucket', 'start and end with a letter or digit'],
    ['bucket.', 'start and end with a letter or digit'],
    ['my_bucket', 'use lowercase letters, digits'],
    ['.tmp', 'start and end with a letter or digit'],
    ['a..b', 'must not contain ".."'],
    ['a.-b', 'must not contain'],
    ['192.168.1.1', 'must not look like an IP address'],
  ])('refuses bucket name %j (%s)', (bucket, reason) => {
    expect(() => objectRef(bucket, 'x')).toThrow(reason);
    expect(() => objectRef(bucket, 'x')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it.each([
    ['', 'must not be empty'],
    ['..', 'contains a ".." segment'],
    ['a/../../etc/passwd', 'contains a ".." segment'],
    ['/etc/passwd', 'must be a relative path'],
    ['a/./b', 'contains a "." segment'],
    ['a//b', 'contains an empty path segment'],
    ['dir/', 'must not end with "/"'],
    ['nul\0byte', 'contains a NUL byte'],
    ['new\nline', 'contains a control character'],
    ['x'.repeat(1025), 'is longer than 1024 bytes'],
    ['é'.repeat(513), 'is longer than 1024 bytes'],
    [`${'x'.repeat(256)}/y`, 'has a path segment longer than 255 bytes'],
  ])('refuses object name %j (%s)', (object, reason) => {
    expect(() => objectRef('bucket', object)).toThrow(reason);
    expect(() => objectRef('bucket', object)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('accepts names at the limits', () => {
    expect(objectRef('a'.repeat(63), 'x'.repeat(255)).object).toHaveLength(255);
    expect(objectRef('abc', `${'x'.repeat(255)}/${'y'.repeat(255)}/${'z'.repeat(255)}/${'w'.repeat(255)}`).object).toHaveLength(1023);
    expect(objectRef('abc', '..hidden/.dotfile/a..b').object).toBe('..hidden/.dotfile/a..b');
  });

  it('validates list prefixes: a partial last segment is fine, traversal is not', () => {
    expect(validateListPrefix('')).toBe('');
    expect(validateListPrefix('workspaces/ws-')).toBe('workspaces/ws-');
    expect(validateListPrefix('workspaces/')).toBe('workspaces/');
    expect(() => validateListPrefix('../')).toThrow('contains an empty, "." or ".." segment');
    expect(() => validateListPrefix('/abs')).toThrow('must be relative');
  });
});
