/**
 * The CORSReady verdict (pure): which bucket CORS rules let browsers at the app's origins send the
 * presigned PUT with every header darkroom signs, and what the message names when they do not.
 */
import { describe, expect, it } from 'vitest';
import { corsVerdict, preflightHeaders, type BucketCorsRule, type CorsRequirement } from '../../src/core/bucket-cors.js';

const app = 'https://app.example.com';
const admin = 'https://admin.example.com';
const requirement: CorsRequirement = { origins: [app, admin], method: 'PUT', headers: ['content-type', 'if-none-match'] };
const rule = (overrides: Partial<BucketCorsRule> = {}): BucketCorsRule => ({
  origins: [app, admin],
  methods: ['PUT'],
  headers: ['Content-Type', 'If-None-Match'],
  ...overrides,
});

describe('preflightHeaders', () => {
  it('keeps the signed headers a page sets and drops those the browser sets itself', () => {
    expect(preflightHeaders({ 'Content-Type': 'image/jpeg', 'Content-Length': '100', 'If-None-Match': '*' })).toEqual(['content-type', 'if-none-match']);
    expect(preflightHeaders({ 'Content-Type': 'image/png', 'x-goog-content-length-range': '0,10' })).toEqual(['content-type', 'x-goog-content-length-range']);
  });
});

describe('corsVerdict', () => {
  it('is True when one rule allows every origin, PUT and every header', () => {
    expect(corsVerdict({ state: 'rules', rules: [rule()] }, requirement)).toEqual({
      status: 'True',
      reason: 'CORSRulesMatch',
      message: "The bucket's CORS rules allow PUT with headers content-type, if-none-match from https://app.example.com, https://admin.example.com.",
    });
  });

  it('accepts S3 wildcards in origins and headers, case-insensitively for headers, and lower-case methods', () => {
    const verdict = corsVerdict({ state: 'rules', rules: [rule({ origins: ['https://*.example.com'], methods: ['put'], headers: ['CONTENT-TYPE', 'if-*'] })] }, requirement);
    expect(verdict.status).toBe('True');
    expect(corsVerdict({ state: 'rules', rules: [rule({ origins: ['*'], headers: ['*'] })] }, requirement).status).toBe('True');
  });

  it('accepts rules split per origin', () => {
    const verdict = corsVerdict({ state: 'rules', rules: [rule({ origins: [app] }), rule({ origins: [admin] })] }, requirement);
    expect(verdict.status).toBe('True');
  });

  it('names the header a rule is missing (If-None-Match)', () => {
    const verdict = corsVerdict({ state: 'rules', rules: [rule({ headers: ['Content-Type'] })] }, requirement);
    expect(verdict).toMatchObject({ status: 'False', reason: 'CORSRulesIncomplete' });
    expect(verdict.message).toBe(
      "The bucket's CORS rules block browser uploads: the rule allowing PUT from https://app.example.com does not allow header if-none-match; the rule allowing PUT from https://admin.example.com does not allow header if-none-match. Uploads need PUT with headers content-type, if-none-match.",
    );
  });

  it('names the origin no rule allows, and the method no rule allows', () => {
    const noOrigin = corsVerdict({ state: 'rules', rules: [rule({ origins: [app] })] }, requirement);
    expect(noOrigin.message).toContain('origin https://admin.example.com is not allowed by any rule');
    expect(noOrigin.message).not.toContain('from https://app.example.com does not');
    const noPut = corsVerdict({ state: 'rules', rules: [rule({ methods: ['GET', 'HEAD'] })] }, requirement);
    expect(noPut).toMatchObject({ status: 'False', reason: 'CORSRulesIncomplete' });
    expect(noPut.message).toContain('no rule allows method PUT from https://app.example.com');
  });

  it('does not combine two rules: the origin, method and headers must meet in one', () => {
    const split = [rule({ headers: ['Content-Type'] }), rule({ methods: ['GET'], headers: ['*'] })];
    expect(corsVerdict({ state: 'rules', rules: split }, requirement).status).toBe('False');
  });

  it('reports a bucket with no configuration, a refused read and an unreachable bucket as such', () => {
    expect(corsVerdict({ state: 'none' }, requirement)).toMatchObject({ status: 'False', reason: 'NoCORSConfiguration' });
    expect(corsVerdict({ state: 'none' }, requirement).message).toContain('add a rule allowing those origins PUT with headers content-type, if-none-match');
    const forbidden = corsVerdict({ state: 'forbidden', detail: 'GetBucketCors: AccessDenied' }, requirement);
    expect(forbidden).toMatchObject({ status: 'Unknown', reason: 'CORSCheckForbidden' });
    expect(forbidden.message).toContain('s3:GetBucketCORS');
    expect(forbidden.message).toContain('storage.buckets.get');
    expect(corsVerdict({ state: 'unavailable', detail: 'timeout' }, requirement)).toMatchObject({ status: 'Unknown', reason: 'CORSCheckFailed' });
  });
});
