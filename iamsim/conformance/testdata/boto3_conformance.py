"""Drives the simulator with boto3 in one process (python and boto3 start slowly, so one
process serves every check) and prints one JSON line: {"check name": record, ...}.

A record says what the client saw: ok, HTTP status, error code, type and message, the
request id of the body and of the x-amzn-RequestId header, the Date header, retries,
and "data" with what the check extracted. It never holds codes, seeds or secrets.

Parameters (JSON on stdin): url, host_clock_url (a simulator on the host's clock), throttled_url (a simulator with a low --rate), key,
secret, denied_key/denied_secret, expired_key/expired_secret, admin (the key's user),
user (a user without devices), other_user, now (the simulator's clock, unix seconds),
resync: {user, serial, code1, code2} (a manifest row), signin: {serial, seed, drift}
(the admin's in-sync device), hardware: {serial, seed, drift}
(an unassigned hardware token), role_arn (a role requiring MFA), ca_bundle, https_url.
"""
import base64
import datetime
import hashlib
import hmac
import json
import struct
import sys
import time

import boto3
import botocore.auth
import botocore.compat
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

P = json.load(sys.stdin)
OUT = {}


def totp(seed_b32, t):
    key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def sim_now():
    # The simulator's clock started at P["now"] when the test launched it.
    return P["now"] + (time.time() - P["launched"])


def client(service, url=None, key=None, secret=None, token=None, retries=1, **cfg):
    return boto3.client(
        service, endpoint_url=url or P["url"], region_name="us-east-1",
        aws_access_key_id=key or P["key"], aws_secret_access_key=secret or P["secret"],
        aws_session_token=token, verify=cfg.pop("verify", None),
        config=Config(retries={"total_max_attempts": retries, "mode": "standard"}, **cfg))


def record(name, fn, extract=None):
    rec = {"ok": False}
    try:
        r = fn()
        md = r.get("ResponseMetadata", {})
        rec.update(ok=True, status=md.get("HTTPStatusCode"))
        if extract:
            rec["data"] = extract(r)
    except ClientError as e:
        md = e.response.get("ResponseMetadata", {})
        err = e.response.get("Error", {})
        rec.update(status=md.get("HTTPStatusCode"), code=err.get("Code"), type=err.get("Type"),
                   message=err.get("Message"))
    except Exception as e:  # a transport failure: the test reports it
        rec.update(exception=type(e).__name__ + ": " + str(e)[:300])
        OUT[name] = rec
        return None
    headers = md.get("HTTPHeaders", {})
    rec.update(request_id=md.get("RequestId"), header_request_id=headers.get("x-amzn-requestid"),
               date=headers.get("date"), retries=md.get("RetryAttempts"))
    OUT[name] = rec
    return r if rec["ok"] else None


iam, sts = client("iam"), client("sts")

# --- ResyncMFADevice ---
rs = P["resync"]
resync = lambda code1, code2, user=rs["user"], serial=rs["serial"]: iam.resync_mfa_device(
    UserName=user, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
record("resync ok", lambda: resync(rs["code1"], rs["code2"]))
record("resync replayed", lambda: resync(rs["code1"], rs["code2"]))
record("resync unknown user", lambda: resync(rs["code1"], rs["code2"], user="no-such-user"))
record("resync seven digits", lambda: resync("1234567", rs["code2"]))
record("resync missing code (unchecked client)",
       lambda: client("iam", parameter_validation=False).resync_mfa_device(
           UserName=rs["user"], SerialNumber=rs["serial"], AuthenticationCode1=rs["code1"]))

# --- CreateVirtualMFADevice, EnableMFADevice: up to IAM's 8 devices per user ---
created = record("create virtual device", lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName="boto3-0"),
                 lambda r: {"serial": r["VirtualMFADevice"]["SerialNumber"],
                            "seed_len": len(r["VirtualMFADevice"]["Base32StringSeed"]),
                            "seed_is_base32": r["VirtualMFADevice"]["Base32StringSeed"].decode().strip(
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "",
                            "png_magic": r["VirtualMFADevice"]["QRCodePNG"][:8] == b"\x89PNG\r\n\x1a\n"})
record("create virtual device taken name", lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName="boto3-0"))
record("create virtual device bad path", lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName="boto3-x", Path="nope"))
record("create virtual device serial too long", lambda: iam.create_virtual_mfa_device(
    VirtualMFADeviceName="n" * 200, Path="/" + "p" * 60 + "/"))
devices = [created] + [iam.create_virtual_mfa_device(VirtualMFADeviceName="boto3-%d" % i) for i in range(1, 9)]
for i, d in enumerate(devices):
    dev = d["VirtualMFADevice"]
    seed, now = dev["Base32StringSeed"].decode(), sim_now()
    name = "enable %d" % (i + 1)
    record(name, lambda: iam.enable_mfa_device(UserName=P["user"], SerialNumber=dev["SerialNumber"],
                                               AuthenticationCode1=totp(seed, now - 30), AuthenticationCode2=totp(seed, now)))
first = devices[0]["VirtualMFADevice"]["SerialNumber"]
record("enable device in use", lambda: iam.enable_mfa_device(
    UserName=P["other_user"], SerialNumber=first, AuthenticationCode1="123456", AuthenticationCode2="654321"))
record("enable unknown device", lambda: iam.enable_mfa_device(
    UserName=P["other_user"], SerialNumber="arn:aws:iam::123456789012:mfa/no-such-device",
    AuthenticationCode1="123456", AuthenticationCode2="654321"))
hw = P["hardware"]
hw_now = sim_now() + 30 * hw["drift"]
record("enable hardware token", lambda: iam.enable_mfa_device(
    UserName=P["other_user"], SerialNumber=hw["serial"],
    AuthenticationCode1=totp(hw["seed"], hw_now - 30), AuthenticationCode2=totp(hw["seed"], hw_now)))
record("list mfa devices with the hardware token", lambda: iam.list_mfa_devices(UserName=P["other_user"]),
       lambda r: {"serials": [d["SerialNumber"] for d in r["MFADevices"]]})
record("deactivate hardware token", lambda: iam.deactivate_mfa_device(UserName=P["other_user"], SerialNumber=hw["serial"]))
record("delete hardware token", lambda: iam.delete_virtual_mfa_device(SerialNumber=hw["serial"]))
record("list mfa devices of the user", lambda: iam.list_mfa_devices(UserName=P["user"]),
       lambda r: {"count": len(r["MFADevices"]), "enable_date_is_time": all(
           isinstance(d["EnableDate"], datetime.datetime) for d in r["MFADevices"])})
record("delete assigned device", lambda: iam.delete_virtual_mfa_device(SerialNumber=first))
record("deactivate", lambda: iam.deactivate_mfa_device(UserName=P["user"], SerialNumber=first))
record("deactivate again", lambda: iam.deactivate_mfa_device(UserName=P["user"], SerialNumber=first))
record("delete", lambda: iam.delete_virtual_mfa_device(SerialNumber=first))
record("delete again", lambda: iam.delete_virtual_mfa_device(SerialNumber=first))

# --- Reads and paginators ---
def paginate(op, page_size, key, **kw):
    pages = list(iam.get_paginator(op).paginate(PaginationConfig={"PageSize": page_size}, **kw))
    return {"pages": len(pages), "items": [x.get("SerialNumber") or x.get("UserName") for p in pages for x in p[key]],
            "with_user": sum(1 for p in pages for x in p[key] if "User" in x)}

record("paginate users", lambda: {"ResponseMetadata": {"HTTPStatusCode": 200}},
       lambda r: paginate("list_users", 7, "Users"))
for status in ("Any", "Assigned", "Unassigned"):
    record("paginate virtual devices " + status, lambda: {"ResponseMetadata": {"HTTPStatusCode": 200}},
           lambda r: paginate("list_virtual_mfa_devices", 5, "VirtualMFADevices", AssignmentStatus=status))
record("paginate mfa devices", lambda: {"ResponseMetadata": {"HTTPStatusCode": 200}},
       lambda r: paginate("list_mfa_devices", 3, "MFADevices", UserName=P["user"]))
record("list users max items", lambda: iam.list_users(MaxItems=2),
       lambda r: {"count": len(r["Users"]), "truncated": r["IsTruncated"], "has_marker": bool(r.get("Marker"))})
record("list users bad marker", lambda: iam.list_users(Marker="not a marker!"))
record("list virtual devices bad status", lambda: client("iam", parameter_validation=False).list_virtual_mfa_devices(AssignmentStatus="Some"))
record("get user", lambda: iam.get_user(UserName=P["other_user"]),
       lambda r: {"user": r["User"]["UserName"], "arn": r["User"]["Arn"],
                  "create_date_is_time": isinstance(r["User"]["CreateDate"], datetime.datetime)})
record("get user unknown", lambda: iam.get_user(UserName="no-such-user"))
record("get user non-ascii name", lambda: iam.get_user(UserName="b\u00f6b"))
record("get user name too long", lambda: iam.get_user(UserName="u" * 129))
record("list account aliases", lambda: iam.list_account_aliases(), lambda r: {"aliases": r["AccountAliases"]})
record("unsupported action", lambda: iam.list_roles())

# --- Credentials ---
record("denied key", lambda: client("iam", key=P["denied_key"], secret=P["denied_secret"]).resync_mfa_device(
    UserName=rs["user"], SerialNumber=rs["serial"], AuthenticationCode1=rs["code1"], AuthenticationCode2=rs["code2"]))
record("expired key", lambda: client("iam", key=P["expired_key"], secret=P["expired_secret"]).list_users())
record("unsigned", lambda: client("iam", signature_version=UNSIGNED).list_users())
record("wrong secret", lambda: client("iam", secret="x" + P["secret"][1:]).list_users())
record("unknown key", lambda: client("sts", key="AKIAUNKNOWNEXAMPLE00").get_caller_identity())

real_now = botocore.compat.get_current_datetime


def skewed(seconds, fn):
    botocore.auth.get_current_datetime = lambda *a, **k: real_now(*a, **k) + datetime.timedelta(seconds=seconds)
    try:
        return fn()
    finally:
        botocore.auth.get_current_datetime = real_now


host_clock = client("iam", url=P["host_clock_url"])
record("signed 20 minutes ago", lambda: skewed(-1200, lambda: host_clock.list_account_aliases()))
record("signed 20 minutes ahead", lambda: skewed(1200, lambda: host_clock.list_account_aliases()))
record("signed 10 minutes ago", lambda: skewed(-600, lambda: host_clock.list_account_aliases()))
record("signed 10 minutes ahead", lambda: skewed(600, lambda: host_clock.list_account_aliases()))

# --- STS ---
record("get caller identity", lambda: sts.get_caller_identity(), lambda r: {"arn": r["Arn"], "account": r["Account"]})
si = P["signin"]
signin_code = totp(si["seed"], sim_now() + 30 * si["drift"])
sess = record("get session token with mfa", lambda: sts.get_session_token(SerialNumber=si["serial"], TokenCode=signin_code),
              lambda r: {"key_prefix": r["Credentials"]["AccessKeyId"][:4],
                         "expiration_is_time": isinstance(r["Credentials"]["Expiration"], datetime.datetime)})
if sess:
    c = sess["Credentials"]
    record("session credentials", lambda: client("sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                                                 token=c["SessionToken"]).get_caller_identity(),
           lambda r: {"arn": r["Arn"]})
    record("get session token with session credentials", lambda: client(
        "sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]).get_session_token())
record("get session token with the same code", lambda: sts.get_session_token(SerialNumber=si["serial"], TokenCode=signin_code))
record("assume role without mfa", lambda: sts.assume_role(RoleArn=P["role_arn"], RoleSessionName="boto3"))
record("assume role with mfa", lambda: sts.assume_role(
    RoleArn=P["role_arn"], RoleSessionName="boto3", SerialNumber=si["serial"],
    TokenCode=totp(si["seed"], sim_now() + 30 * (si["drift"] + 1))),
    lambda r: {"arn": r["AssumedRoleUser"]["Arn"]})
record("assume unknown role", lambda: sts.assume_role(
    RoleArn=P["role_arn"] + "-nope", RoleSessionName="boto3"))

# --- HTTPS with a CA bundle ---
record("https with ca bundle", lambda: client("sts", url=P["https_url"], verify=P["ca_bundle"]).get_caller_identity())
record("https without ca bundle", lambda: client("sts", url=P["https_url"]).get_caller_identity())

# --- Throttling, as the client sees it: retries off, then on ---
thr = client("iam", url=P["throttled_url"])
record("throttled 0", lambda: thr.list_account_aliases())
drained = time.time()
for i in range(1, 6):
    record("throttled %d" % i, lambda: thr.list_account_aliases())
# The bucket (1 token a second, burst 1) was emptied at "drained": a call within the
# second is throttled at first, and the SDK's retries wait until it goes through.
early = time.time() - drained < 0.8
record("throttled with retries", lambda: client("iam", url=P["throttled_url"], retries=8).list_users(),
       lambda r: {"users": len(r["Users"]), "first_attempt_surely_throttled": early})

print(json.dumps(OUT, sort_keys=True))
