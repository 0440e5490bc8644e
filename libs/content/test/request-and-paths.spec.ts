import { WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import { decodeChildRequest, encodeChildRequest, redactSecrets, relativeParts, WORKSPACE_ID_MAPPING, type InitializeRequest } from '../src';
import { gitConfig, gitInitializer } from './support/git-spec';

describe('child request', () => {
  const request: InitializeRequest = {
    operation: 'initialize',
    destination: '/dst',
    initializer: {
      spec: {
        $case: 'composite',
        value: { initializer: [gitInitializer({ remoteUri: 'https://git.example/x.git', targetMode: initializer.CloneTargetMode.REMOTE_BRANCH, cloneTarget: 'dev', config: gitConfig({ customConfig: { 'core.autocrlf': 'input' } }) }), { spec: { $case: 'empty', value: {} } }] },
      },
    },
    remoteContent: { backup: { url: 'http://127.0.0.1:1/o/b/x?sig=1', sizeBytes: 10, sha256: 'a'.repeat(64) }, objects: { 'x@y': { url: 'https://s/x' } } },
    idMapping: WORKSPACE_ID_MAPPING,
    git: { attempts: 2 },
  };

  it('round-trips through its JSON form', () => {
    expect(decodeChildRequest(encodeChildRequest(request))).toEqual(request);
    const status = { operation: 'git-status' as const, destination: '/dst', idMapping: WORKSPACE_ID_MAPPING, checkoutLocation: 'repo' };
    expect(decodeChildRequest(encodeChildRequest(status))).toEqual(status);
  });

  it.each([
    ['empty bytes', Buffer.alloc(0), /empty/],
    ['not JSON', Buffer.from('{'), /not JSON/],
    ['a relative destination', encodeChildRequest({ ...request, destination: 'dst' }), /destination/],
    ['no initializer', Buffer.from(JSON.stringify({ operation: 'initialize', destination: '/dst', initializer: {}, idMapping: WORKSPACE_ID_MAPPING })), /no initializer/],
    ['an unknown operation', Buffer.from(JSON.stringify({ operation: 'format-disk', destination: '/dst', idMapping: WORKSPACE_ID_MAPPING })), /unknown operation "format-disk"/],
    ['an overlapping id map', encodeChildRequest({ ...request, idMapping: [{ containerId: 0, hostId: 33333, size: 2 }, { containerId: 1, hostId: 100000, size: 5 }] }), /idMapping: ranges 0 and 1 overlap/],
    ['a remote object without an http URL', encodeChildRequest({ ...request, remoteContent: { backup: { url: 'file:///etc/shadow' } } }), /remoteContent.backup: url/],
    ['a bad digest', encodeChildRequest({ ...request, remoteContent: { objects: { a: { url: 'http://x/', sha256: 'xyz' } } } }), /sha256/],
  ])('refuses %s', (_what, bytes, message) => {
    expect(() => decodeChildRequest(bytes)).toThrow(expect.objectContaining({ code: WsErrorCode.InvalidArgument, message: expect.stringMatching(message) }));
  });
});

describe('workspace-relative locations', () => {
  it.each([
    ['', []],
    ['.', []],
    ['a/b', ['a', 'b']],
    ['./a//b/', ['a', 'b']],
    ['.hidden/x', ['.hidden', 'x']],
  ])('splits %j', (location, parts) => {
    expect(relativeParts('loc', location)).toEqual(parts);
  });

  it.each(['/abs', '..', 'a/../..', 'a/..', 'nul\0byte', `${'x'.repeat(256)}/y`])('refuses %j', (location) => {
    expect(() => relativeParts('loc', location)).toThrow(expect.objectContaining({ code: WsErrorCode.InvalidArgument }));
  });
});

describe('redactSecrets', () => {
  it('blanks known secrets, user info in URLs, and URL queries', () => {
    expect(redactSecrets('fatal: https://bob:hunter2@git.example/r.git failed, hunter2 again', ['hunter2'])).toBe('fatal: https://[secret]@git.example/r.git failed, [secret] again');
    expect(redactSecrets('GET http://s/o/b/x?expires=1&sig=abc failed')).toBe('GET http://s/o/b/x?[redacted] failed');
  });
});
