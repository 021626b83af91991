"""Runs IAM's list, create and enable calls through boto3 against moto and the
simulator, and prints the SHAPE of each parsed response (keys and types,
recursively; values dropped) as one JSON line: {"moto": {...}, "sim": {...}}.

Parameters (JSON on stdin):
  moto, sim: endpoint URLs
  key, secret: the simulator's access key (moto accepts anything)
  user: a user of the simulator's fleet that may get one more MFA device
  alias: the fleet's account alias
  now: the simulator's clock, unix seconds (codes for EnableMFADevice are computed here)
"""
import base64
import datetime
import hashlib
import hmac
import json
import struct
import sys

import boto3
from botocore.config import Config


def totp(seed_b32, t):
    key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out.get(k), v)
        return out
    if isinstance(a, list) and isinstance(b, list):
        return ["list", merge(a[1], b[1])]
    if a == b:
        return a
    return "mixed(%s,%s)" % (a, b)


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        el = None
        for x in v:
            el = merge(el, shape(x))
        return ["list", el]
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, datetime.datetime):
        return "timestamp"
    if isinstance(v, (bytes, bytearray)):
        return "blob"
    if isinstance(v, str):
        return "string"
    return type(v).__name__


def response_shape(r):
    r = dict(r)
    md = r.pop("ResponseMetadata", {})
    s = shape(r)
    # Only these metadata members come from the response itself; botocore fills the
    # rest (headers, retries) on its own.
    s["ResponseMetadata"] = {k: shape(md[k]) for k in ("RequestId", "HTTPStatusCode") if k in md}
    return s


def client(url, key, secret):
    return boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def calls(c, user, now, prepare):
    out = {}
    prepare(c)
    created = c.create_virtual_mfa_device(VirtualMFADeviceName="conformance-shape-" + user)
    out["create_virtual_mfa_device"] = response_shape(created)
    dev = created["VirtualMFADevice"]
    seed = dev["Base32StringSeed"].decode()
    # A second device stays unassigned so that every listing has both kinds.
    c.create_virtual_mfa_device(VirtualMFADeviceName="conformance-shape-spare")
    out["enable_mfa_device"] = response_shape(c.enable_mfa_device(
        UserName=user, SerialNumber=dev["SerialNumber"],
        AuthenticationCode1=totp(seed, now), AuthenticationCode2=totp(seed, now + 30)))
    out["list_mfa_devices"] = response_shape(c.list_mfa_devices(UserName=user))
    out["list_virtual_mfa_devices"] = response_shape(c.list_virtual_mfa_devices())
    out["list_virtual_mfa_devices_assigned"] = response_shape(c.list_virtual_mfa_devices(AssignmentStatus="Assigned"))
    out["list_virtual_mfa_devices_unassigned"] = response_shape(c.list_virtual_mfa_devices(AssignmentStatus="Unassigned"))
    out["list_users"] = response_shape(c.list_users())
    out["list_users_page"] = response_shape(c.list_users(MaxItems=1))
    out["get_user"] = response_shape(c.get_user(UserName=user))
    out["list_account_aliases"] = response_shape(c.list_account_aliases())
    return out


def main():
    p = json.load(sys.stdin)
    user, alias = p["user"], p["alias"]

    def prepare_moto(c):
        # moto starts empty: give it what the fleet has (CreateUser only against moto).
        c.create_user(UserName=user)
        c.create_user(UserName=user + "-second")
        c.create_account_alias(AccountAlias=alias)

    out = {
        "moto": calls(client(p["moto"], p["key"], p["secret"]), user, p["now"], prepare_moto),
        "sim": calls(client(p["sim"], p["key"], p["secret"]), user, p["now"], lambda c: None),
    }
    print(json.dumps(out, sort_keys=True))


main()
