#!/usr/bin/env python3
"""Builds the bundled sample org: src/source/sample/*.json (REST query-result
JSON, one file per object), src/source/sample/MANIFEST.md and
src/source/sample/manifest.rs (the expected outcome of importing it).

Usage: scripts/make_sample_org.py [FIXTURES_DIR]   (default ../shared/sf-fixtures)

Run from the crate root. Deterministic: the same fixtures give the same
output, byte for byte. A dev tool; tests never run it.
"""

import collections
import csv
import json
import os
import random
import subprocess
import sys

FIX = sys.argv[1] if len(sys.argv) > 1 else "../shared/sf-fixtures"
OUT = "src/source/sample"
API = "v60.0"
rng = random.Random(20240131)

# ---------------------------------------------------------------- ids

SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum(id15):
    out = ""
    for chunk in range(3):
        bits = 0
        for i, c in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << i
        out += SUFFIX[bits]
    return out


def id18(id15):
    assert len(id15) == 15 and id15.isalnum(), id15
    return id15 + checksum(id15)


def valid18(raw):
    return len(raw) == 18 and raw[15:].upper() == checksum(raw[:15])


counters = collections.Counter()


def new_id(prefix):
    """A synthetic 18-char id: prefix + '5g0000' + base62 counter (mixed case)."""
    counters[prefix] += 1
    n = counters[prefix] * 37 + 1000  # spread the digits, keep the order
    s = ""
    for _ in range(6):
        s = B62[n % 62] + s
        n //= 62
    return id18(prefix + "5g0000" + s)


def short(i18):
    return i18[:15]


def attrs(obj, rid):
    return {"type": obj, "url": f"/services/data/{API}/sobjects/{obj}/{rid}"}


def money(x):
    return float(round(x, 2))


# ---------------------------------------------------------------- sources

def tree(path):
    with open(os.path.join(FIX, "tree", path), encoding="utf-8") as f:
        return json.load(f)["records"]


def read_csv(path):
    # The Data Loader samples are Windows-1252, not UTF-8.
    with open(os.path.join(FIX, "csv", path), encoding="cp1252", errors="replace") as f:
        return list(csv.DictReader(f))


US_SPELLINGS = ["United States", "USA", "U.S.", "US", "United States of America"]
INDUSTRIES = ["Technology", "Manufacturing", "Finance", "Retail", "Healthcare", "Energy", "Media"]
TYPES = ["Customer - Direct", "Customer - Channel", "Prospect", "Technology Partner", "Other"]
CURRENCIES = ["USD"] * 6 + ["EUR", "GBP"]
STAGES = {
    "Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Value Proposition": 50,
    "Id. Decision Makers": 60, "Perception Analysis": 70, "Proposal/Price Quote": 75,
    "Negotiation/Review": 90, "Closed Won": 100, "Closed Lost": 0,
}
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Word of mouth"]


def phone():
    return f"({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}"


accounts = []  # dicts in creation order
acc_by_ref = {}
provenance = collections.defaultdict(list)


def add_account(rec, ref=None):
    rec = {"attributes": None, "Id": rec.pop("Id", None) or new_id("001"), **rec}
    rec["attributes"] = attrs("Account", rec["Id"])
    accounts.append(rec)
    if ref:
        acc_by_ref[ref] = rec["Id"]
    return rec


def enrich_account(rec):
    """Fills optional fields on some accounts only (many stay missing)."""
    if rng.random() < 0.6:
        rec.setdefault("Phone", phone())
    if rng.random() < 0.5:
        rec.setdefault("Industry", rng.choice(INDUSTRIES))
    if rng.random() < 0.5:
        rec.setdefault("Type", rng.choice(TYPES))
    if rng.random() < 0.4:
        rec.setdefault("NumberOfEmployees", rng.choice([5, 12, 48, 120, 350, 1200, 9800]))
    if rng.random() < 0.4:
        rec.setdefault("AnnualRevenue", rng.choice([250000, 1500000, 12500000, 98000000.5]))
    if rng.random() < 0.7:
        rec.setdefault("CurrencyIsoCode", rng.choice(CURRENCIES))
    if rng.random() < 0.3:
        slug = "".join(c for c in rec["Name"].lower() if c.isascii() and c.isalnum())[:20]
        rec.setdefault("Website", f"https://www.{slug or 'example'}.example")


# 1. Data Loader sample accounts (forcedotcom/dataloader, BSD-3-Clause).
dl_accounts = read_csv("accountData.csv")
dl_opps = read_csv("opportunityData.csv")
opp_account_ids = {o["ACCOUNTID"] for o in dl_opps}
picked = [r for r in dl_accounts[:45] if r["NAME"].isascii() and "?" not in r["NAME"]][:40]
picked += [r for r in dl_accounts if r["ID"] in opp_account_ids and r not in picked]
for i, r in enumerate(picked):
    assert valid18(r["ID"]), r["ID"]
    rec = {"Id": r["ID"], "Name": r["NAME"]}
    for src, dst in [("BILLINGSTREET", "BillingStreet"), ("BILLINGCITY", "BillingCity"),
                     ("BILLINGSTATE", "BillingState"), ("BILLINGPOSTALCODE", "BillingPostalCode"),
                     ("PHONE", "Phone"), ("WEBSITE", "Website"), ("INDUSTRY", "Industry"),
                     ("TYPE", "Type"), ("DESCRIPTION", "Description")]:
        if r[src]:
            rec[dst] = r[src]
    if r["NUMBEROFEMPLOYEES"]:
        rec["NumberOfEmployees"] = int(float(r["NUMBEROFEMPLOYEES"]))
    if r["ANNUALREVENUE"]:
        # Kept as the numeric string Data Loader wrote ("500000.0") on a few.
        rec["AnnualRevenue"] = r["ANNUALREVENUE"] if i % 3 == 0 else float(r["ANNUALREVENUE"])
    country = r["BILLINGCOUNTRY"]
    if country in ("US", "USA", "United States"):
        country = US_SPELLINGS[i % len(US_SPELLINGS)]
    if country:
        rec["BillingCountry"] = country
    enrich_account(rec)
    add_account(rec, ref=r["ID"])
provenance["Account"].append(f"{len(picked)} from forcedotcom/dataloader accountData.csv")

# 2. lwc-recipes accounts (CC0-1.0).
for r in tree("lwc-recipes/Accounts.json"):
    rec = {k: v for k, v in r.items() if k != "attributes"}
    enrich_account(rec)
    add_account(rec, ref="lwc:" + r["attributes"]["referenceId"])
provenance["Account"].append("10 from trailheadapps/lwc-recipes data/Accounts.json")

# 3. ebikes-lwc accounts (CC0-1.0).
for r in tree("ebikes-lwc/Accounts.json"):
    rec = {k: v for k, v in r.items() if k != "attributes"}
    add_account(rec, ref="ebikes:" + r["attributes"]["referenceId"])
provenance["Account"].append("3 from trailheadapps/ebikes-lwc data/Accounts.json")

# 4. replicated-salesforce-fulfillment accounts (Apache-2.0): Name only, so
#    these are the records with most optional fields missing.
for r in tree("replicated-salesforce-fulfillment/Account.json"):
    add_account({"Name": r["Name"]}, ref="rep:" + r["attributes"]["referenceId"])
provenance["Account"].append("20 from crdant/replicated-salesforce-fulfillment data/Account.json (Name only)")

# 5. Synthesized awkward accounts.
A = {}
A["mueller"] = add_account({"Name": "Müller GmbH", "BillingStreet": "Friedrichstraße 12", "BillingCity": "Berlin",
                            "BillingPostalCode": "10117", "BillingCountry": "Deutschland", "Phone": "+49 30 1234567",
                            "CurrencyIsoCode": "EUR", "Industry": "Manufacturing", "NumberOfEmployees": 85})
A["schaefer"] = add_account({"Name": "Schäfer & Söhne KG", "BillingStreet": "Königsallee 1", "BillingCity": "Düsseldorf",
                             "BillingPostalCode": "40212", "BillingCountry": "Germany", "CurrencyIsoCode": "EUR"})
A["tokyo"] = add_account({"Name": "株式会社 東京", "BillingStreet": "千代田区丸の内1-1", "BillingCity": "東京",
                          "BillingCountry": "Japan", "CurrencyIsoCode": "JPY", "AnnualRevenue": "500000000.0"})
A["brit"] = add_account({"Name": "Britannia Widgets Ltd", "BillingStreet": "10 Downing Row", "BillingCity": "London",
                         "BillingPostalCode": "SW1A 2AA", "BillingCountry": "UK", "CurrencyIsoCode": "GBP",
                         "AnnualRevenue": 1250000.75})
A["thames"] = add_account({"Name": "Thames Data plc", "BillingCity": "Reading", "BillingCountry": "United Kingdom",
                           "CurrencyIsoCode": "GBP"})
A["atlantis"] = add_account({"Name": "Poseidon Trading Co.", "BillingCity": "Poseidonis", "BillingCountry": "Atlantis",
                             "Description": "Country is not a real one: the importer warns and leaves it empty."})
A["longphone"] = add_account({"Name": "Longwire Telecom", "Phone": "+1 (415) 555-0134 ext. 12345",
                              "BillingCountry": "USA", "Description": "Phone is longer than the CRM's 20 characters."})
A["dup1"] = add_account({"Name": "Northwind Traders", "BillingCity": "Seattle", "BillingState": "WA",
                         "BillingCountry": "US"})
A["dup2"] = add_account({"Name": "Northwind Traders", "BillingCity": "Portland", "BillingState": "OR",
                         "BillingCountry": "U.S.", "Description": "Same name as another account, different company."})
A["lowid_child"] = add_account({"Name": "Northwind Traders (Seattle Branch)", "BillingCountry": "United States",
                                "Description": "ParentId names an account with a higher id (forward reference)."})
# Forward reference: a synthetic id (001 5g...) sorts before the Data Loader
# ids (001x...), so its parent comes later in Id order.
A["lowid_child"]["ParentId"] = picked_parent = accounts[0]["Id"]
assert A["lowid_child"]["Id"] < picked_parent
# Backward reference: a Data Loader account (higher id) under a synthetic one.
accounts[1]["ParentId"] = A["dup1"]["Id"]
assert accounts[1]["Id"] > A["dup1"]["Id"]
# A 15-character ParentId.
accounts[2]["ParentId"] = short(A["mueller"]["Id"])
# A few record Ids in their 15-character form.
for a in (A["schaefer"], accounts[5]):
    a["Id"] = short(a["Id"])
provenance["Account"].append(f"{len(A)} synthesized (non-ASCII names, country spellings, duplicates, long phone, Atlantis)")
# Mark parent relations.
PARENT_FORWARD = A["lowid_child"]["Id"]
PARENT_BACKWARD = accounts[1]["Id"]
account_ids = [a["Id"] for a in accounts]

# ---------------------------------------------------------------- products

products = []
pbes = []
STD_PB = new_id("01s")
CUSTOM_PB = new_id("01s")
FAMILIES = ["Software", "Hardware", "Services", "Support"]
rep_products = tree("replicated-salesforce-fulfillment/Product2.json")
rep_pbes = {p["Product2Id"][1:]: p for p in tree("replicated-salesforce-fulfillment/PricebookEntry.json")}
prod_by_ref = {}
for i, r in enumerate(rep_products):
    pid = new_id("01t")
    rec = {"attributes": attrs("Product2", pid), "Id": pid, "Name": r["Name"], "ProductCode": f"SLK-{i + 1:03d}",
           "IsActive": r["IsActive"], "Family": "Software", "CurrencyIsoCode": "USD"}
    if i % 2 == 0:
        rec["Description"] = f"{r['Name']} subscription (one year)."
    products.append(rec)
    prod_by_ref[r["attributes"]["referenceId"]] = rec
provenance["Product2"].append(f"{len(rep_products)} from crdant/replicated-salesforce-fulfillment data/Product2.json")
SYN_PRODUCTS = [
    ("Widget, Standard", "Hardware", 19.99), ("Widget, Deluxe", "Hardware", 49.5), ("Widget Mounting Kit", "Hardware", 7.25),
    ("Gear Assembly 40mm", "Hardware", 120), ("Installation (per day)", "Services", 950), ("Training Workshop", "Services", 2400),
    ("Premium Support (annual)", "Support", 12000), ("Standard Support (annual)", "Support", 4800),
    ("Analytics Add-on", "Software", 3600), ("Data Connector", "Software", 1500), ("Edge Gateway", "Hardware", 899.99),
    ("Sensor Pack (10)", "Hardware", 249), ("Migration Service", "Services", 7500), ("Ersatzteil-Set Größe M", "Hardware", 64.9),
    ("Legacy Widget (retired)", "Hardware", 15),
]
syn_price = {}
for i, (name, fam, price) in enumerate(SYN_PRODUCTS):
    pid = new_id("01t")
    rec = {"attributes": attrs("Product2", pid), "Id": pid, "Name": name, "ProductCode": f"WID-{100 + i}",
           "IsActive": not name.startswith("Legacy"), "Family": fam,
           "CurrencyIsoCode": "EUR" if "Größe" in name else "USD"}
    if i % 3 != 2:
        rec["Description"] = f"{name}."
    products.append(rec)
    syn_price[pid] = price
provenance["Product2"].append(f"{len(SYN_PRODUCTS)} synthesized")
# One product Id written in 15 characters.
products[-2]["Id"] = short(products[-2]["Id"])

price_of = {}
std_entry_of = {}
for p in products:
    pid18 = p["Id"] if len(p["Id"]) == 18 else id18(p["Id"])
    ref = next((k for k, v in prod_by_ref.items() if v is p), None)
    if ref is not None:
        price = rep_pbes[ref]["UnitPrice"] if ref in rep_pbes else 5000
    else:
        price = syn_price[p["Id"] if p["Id"] in syn_price else pid18]
    eid = new_id("01u")
    pbes.append({"attributes": attrs("PricebookEntry", eid), "Id": eid, "Product2Id": p["Id"], "Pricebook2Id": STD_PB,
                 "UnitPrice": price, "CurrencyIsoCode": p["CurrencyIsoCode"], "IsActive": p["IsActive"],
                 "Pricebook2": {"attributes": {"type": "Pricebook2", "url": f"/services/data/{API}/sobjects/Pricebook2/{STD_PB}"},
                                "IsStandard": True}})
    price_of[pid18] = price
    std_entry_of[pid18] = eid
provenance["PricebookEntry"].append("standard-price-book prices of the replicated products from data/PricebookEntry.json (5000 where it has none); the rest synthesized")
CUSTOM_PRODUCTS = [products[0], products[10], products[11], products[16]]
for p in CUSTOM_PRODUCTS:
    pid18 = p["Id"] if len(p["Id"]) == 18 else id18(p["Id"])
    eid = new_id("01u")
    pbes.append({"attributes": attrs("PricebookEntry", eid), "Id": eid, "Product2Id": short(pid18), "Pricebook2Id": CUSTOM_PB,
                 "UnitPrice": money(price_of[pid18] * 0.9), "CurrencyIsoCode": p["CurrencyIsoCode"], "IsActive": True,
                 "Pricebook2": {"attributes": {"type": "Pricebook2", "url": f"/services/data/{API}/sobjects/Pricebook2/{CUSTOM_PB}"},
                                "IsStandard": False}})
product_ids = list(price_of)

# ---------------------------------------------------------------- contacts

contacts = []
FIRST = ["Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
         "Nora", "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Ximena", "Yusuf"]
LAST = ["Schmidt", "Okafor", "Dubois", "Nakamura", "Yılmaz", "García", "Novak", "Larsen", "Fischer", "Rossi", "Kim",
        "O'Brien", "Silva", "Jensen", "Ivanova", "Hughes", "Patel", "Moreau", "Sato", "Weber"]
TITLES = ["CEO", "CFO", "VP Sales", "Head of Procurement", "IT Manager", "Buyer", "Operations Lead", None]
DEPTS = ["Executive", "Finance", "Sales", "Procurement", "IT", "Operations", None]


def add_contact(rec):
    cid = rec.pop("Id", None) or new_id("003")
    rec = {"attributes": attrs("Contact", cid), "Id": cid, **rec}
    contacts.append(rec)
    return rec


for r in tree("lwc-recipes/Contacts.json"):
    rec = {k: v for k, v in r.items() if k not in ("attributes", "Picture__c")}
    rec["AccountId"] = acc_by_ref["lwc:" + r["AccountId"][1:]]
    rec["Department"] = rng.choice(DEPTS[:-1])
    add_contact(rec)
provenance["Contact"].append("6 from trailheadapps/lwc-recipes data/Contacts.json (Picture__c dropped)")
for r in tree("replicated-salesforce-fulfillment/Contact.json"):
    rec = {k: r[k] for k in ("FirstName", "LastName") if k in r}
    rec["AccountId"] = acc_by_ref["rep:" + r["AccountId"][1:]]
    add_contact(rec)
provenance["Contact"].append("25 from crdant/replicated-salesforce-fulfillment data/Contact.json")
syn_accounts = [a for a in accounts if a["Name"] not in ("Poseidon Trading Co.",)]
for i in range(52):
    acc = syn_accounts[(i * 7) % len(syn_accounts)]
    first, last = FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)]
    rec = {"FirstName": first, "LastName": last,
           "Email": f"{first.lower().encode('ascii', 'ignore').decode()}.{last.lower().replace(chr(39), '').encode('ascii', 'ignore').decode()}{i}@example.com",
           "AccountId": acc["Id"] if i % 5 else short(acc["Id"] if len(acc["Id"]) == 18 else id18(acc["Id"]))}
    if i % 2 == 0:
        rec["Phone"] = phone()
    t = TITLES[i % len(TITLES)]
    if t:
        rec["Title"] = t
    d = DEPTS[i % len(DEPTS)]
    if d:
        rec["Department"] = d
    rec["DoNotCall"] = i % 9 == 0
    if i % 4 == 0:
        rec.update({"MailingStreet": f"{10 + i} Market Street", "MailingCity": "San Francisco", "MailingState": "CA",
                    "MailingPostalCode": "94105", "MailingCountry": US_SPELLINGS[i % 5]})
    if i % 11 == 0:
        rec["Description"] = "Met at the trade show; prefers email."
    add_contact(rec)
provenance["Contact"].append("52 synthesized from name lists, spread over the accounts")
C = {}
C["zoe"] = add_contact({"FirstName": "Zoë", "LastName": "Ångström", "Email": "zoe.angstrom@example.se",
                        "AccountId": A["mueller"]["Id"], "MailingCity": "Göteborg", "MailingCountry": "Sweden"})
C["tokyo"] = add_contact({"FirstName": "太郎", "LastName": "山田", "AccountId": short(A["tokyo"]["Id"]),
                          "MailingCountry": "Japan", "Title": "部長"})
C["noaccount"] = add_contact({"FirstName": "Freya", "LastName": "Lonewolf", "Email": "freya@example.org",
                              "Description": "A contact without an account."})
C["nolast"] = add_contact({"FirstName": "Madonna", "Email": "madonna@example.com", "AccountId": A["brit"]["Id"],
                           "Description": "LastName is missing: this record fails."})
C["uk"] = add_contact({"FirstName": "Oliver", "LastName": "Hughes-Smythe", "AccountId": A["thames"]["Id"],
                       "MailingCity": "Reading", "MailingCountry": "United Kingdom", "Phone": "+44 118 496 0000"})
C["de"] = add_contact({"FirstName": "Jürgen", "LastName": "Weiß", "AccountId": A["schaefer"]["Id"],
                       "MailingCountry": "Deutschland", "Email": "juergen.weiss@example.de"})
provenance["Contact"].append(f"{len(C)} synthesized awkward contacts")
for c in (contacts[7], contacts[40]):
    c["Id"] = short(c["Id"])
contacts_of = collections.defaultdict(list)
for c in contacts:
    if c is not C["nolast"] and c.get("AccountId"):
        a = c["AccountId"]
        contacts_of[a if len(a) == 18 else id18(a)].append(c["Id"])

# ---------------------------------------------------------------- opportunities

opps = []


def acc18(a):
    return a if len(a) == 18 else id18(a)


def add_opp(rec):
    oid = rec.pop("Id", None) or new_id("006")
    rec = {"attributes": attrs("Opportunity", oid), "Id": oid, **rec}
    if rec.get("StageName") in STAGES and "Probability" not in rec:
        rec["Probability"] = STAGES[rec["StageName"]]
    acc = rec.get("AccountId")
    if acc and "ContactId" not in rec and contacts_of.get(acc18(acc)) and len(opps) % 3 == 0:
        rec["ContactId"] = contacts_of[acc18(acc)][0]
    opps.append(rec)
    return rec


for i, r in enumerate(dl_opps):
    assert valid18(r["ID"]), r["ID"]
    rec = {"Id": r["ID"], "Name": r["NAME"], "StageName": r["STAGENAME"], "CloseDate": r["CLOSEDATE"],
           "Type": "New Customer" if r["TYPE"] == "Opportunity" else r["TYPE"], "AccountId": r["ACCOUNTID"]}
    if r["AMOUNT"]:
        rec["Amount"] = r["AMOUNT"] if i % 6 == 0 else float(r["AMOUNT"])
    if r["PROBABILITY"]:
        rec["Probability"] = r["PROBABILITY"] if i % 6 == 0 else float(r["PROBABILITY"])
    if r["LEADSOURCE"]:
        rec["LeadSource"] = r["LEADSOURCE"]
    if r["DESCRIPTION"]:
        rec["Description"] = r["DESCRIPTION"]
    if i % 4 == 0:
        rec["CurrencyIsoCode"] = "USD"
    add_opp(rec)
provenance["Opportunity"].append(f"{len(dl_opps)} from forcedotcom/dataloader opportunityData.csv")
for i, r in enumerate(tree("lwc-recipes/Opportunities.json")):
    rec = {k: v for k, v in r.items() if k != "attributes"}
    rec["AccountId"] = acc_by_ref["lwc:" + r["AccountId"][1:]]
    if i % 2:
        rec["LeadSource"] = rng.choice(LEAD_SOURCES)
    add_opp(rec)
provenance["Opportunity"].append("20 from trailheadapps/lwc-recipes data/Opportunities.json")
for r in tree("replicated-salesforce-fulfillment/Opportunity.json"):
    rec = {k: v for k, v in r.items() if k not in ("attributes", "Pricebook2Id")}
    rec["AccountId"] = acc_by_ref["rep:" + r["AccountId"][1:]]
    rec["Type"] = "New Customer"
    add_opp(rec)
provenance["Opportunity"].append("4 from crdant/replicated-salesforce-fulfillment data/Opportunity.json (Pricebook2Id dropped)")
O = {}
O["feb30"] = add_opp({"Name": "Müller GmbH - Leap Day Deal", "StageName": "Qualification", "CloseDate": "2024-02-30",
                      "Amount": 12000, "AccountId": A["mueller"]["Id"], "CurrencyIsoCode": "EUR",
                      "Description": "CloseDate is not a real date: this record fails."})
O["wonbig"] = add_opp({"Name": "Longwire Telecom - Fiber Rollout", "StageName": "Won Big", "Probability": 100,
                       "CloseDate": "2024-03-15", "Amount": 250000.5, "AccountId": A["longphone"]["Id"],
                       "LeadSource": "Partner Referral", "Type": "New Customer",
                       "Description": "Stage is not a known value: imported with the default stage and a warning."})
O["failedcontact"] = add_opp({"Name": "Britannia Widgets - Widgets for the Realm", "StageName": "Perception Analysis",
                              "CloseDate": "2024-09-30", "Amount": "75000.0", "CurrencyIsoCode": "GBP",
                              "AccountId": A["brit"]["Id"], "ContactId": C["nolast"]["Id"],
                              "Description": "ContactId names the contact that fails: imported with a warning."})
O["tokyo"] = add_opp({"Name": "東京 - 年間契約", "StageName": "Closed Lost", "CloseDate": "2024-01-31", "Amount": 3000000,
                      "CurrencyIsoCode": "JPY", "AccountId": short(A["tokyo"]["Id"]), "ContactId": short(C["tokyo"]["Id"])})
O["de"] = add_opp({"Name": "Schäfer & Söhne - Ersatzteile", "StageName": "Closed Won", "CloseDate": "2024-04-30",
                   "Amount": 8450.75, "CurrencyIsoCode": "EUR", "AccountId": A["schaefer"]["Id"],
                   "ContactId": C["de"]["Id"], "LeadSource": "Web"})
provenance["Opportunity"].append(f"{len(O)} synthesized awkward opportunities")
opps[3]["Id"] = short(opps[3]["Id"])
GOOD_OPPS = [o for o in opps if o is not O["feb30"]]
opps_of = collections.defaultdict(list)
for o in GOOD_OPPS:
    opps_of[acc18(o["AccountId"])].append(o["Id"])

# ---------------------------------------------------------------- orders

orders, items = [], []
ORDER_STATUSES = ["Draft", "Activated", "Completed", "Cancelled"]
order_accounts = [a for a in accounts if a is not A["atlantis"] and a.get("BillingCountry")]


def address(prefix, acc):
    out = {}
    for f in ("Street", "City", "State", "PostalCode", "Country"):
        if acc.get("Billing" + f):
            out[prefix + f] = acc["Billing" + f]
    return out


def line_items(parent_field, parent_id, n, quote):
    total = 0
    for k in range(n):
        pid = product_ids[rng.randrange(len(product_ids))]
        qty = rng.choice([1, 1, 2, 3, 5, 10, 2.5])
        list_price = price_of[pid]
        unit = list_price
        rec = {parent_field: parent_id, "Product2Id": pid, "PricebookEntryId": std_entry_of[pid],
               "Quantity": qty, "UnitPrice": unit}
        if quote:
            disc = rng.choice([None, None, 5, 10, 12.5])
            line = unit * qty * (1 - (disc or 0) / 100)
            if disc is not None:
                rec["Discount"] = disc
        else:
            rec["ListPrice"] = list_price
            line = unit * qty
        rec["TotalPrice"] = money(line)
        if k == 0 and rng.random() < 0.3:
            rec["Description"] = "First line of the order." if not quote else "Includes onboarding."
        total += line
        yield rec
    return total


def add_items(obj, prefix, parent_field, parent_id, n, quote, sink):
    total = 0
    for rec in line_items(parent_field, parent_id, n, quote):
        iid = new_id(prefix)
        sink.append({"attributes": attrs(obj, iid), "Id": iid, **rec})
        total += rec["TotalPrice"]
    return money(total)


for i in range(30):
    acc = order_accounts[(i * 5 + 3) % len(order_accounts)]
    a18 = acc18(acc["Id"])
    oid = new_id("801")
    status = ORDER_STATUSES[i % 4]
    eff = f"2024-{1 + i % 12:02d}-{1 + (i * 7) % 28:02d}"
    rec = {"attributes": attrs("Order", oid), "Id": oid, "Name": f"Order {acc['Name']} #{i + 1}",
           "OrderNumber": f"{100 + i:08d}", "Status": status, "EffectiveDate": eff,
           "CurrencyIsoCode": acc.get("CurrencyIsoCode", "USD"), "AccountId": acc["Id"] if i % 4 else short(a18)}
    if status in ("Activated", "Completed"):
        rec["ActivatedDate"] = f"{eff}T{9 + i % 8:02d}:{(i * 13) % 60:02d}:00.000+0000"
    rec.update(address("Billing", acc))
    if i % 3 == 0:
        rec.update(address("Shipping", acc))
    if contacts_of.get(a18) and i % 2 == 0:
        rec["BillToContactId"] = contacts_of[a18][0]
    if opps_of.get(a18):
        rec["OpportunityId"] = opps_of[a18][0]
    if i % 5 == 0:
        rec["Description"] = "Deliver to the loading dock."
    orders.append(rec)
    parent = oid if i % 6 else short(oid)
    rec["TotalAmount"] = add_items("OrderItem", "802", "OrderId", parent, 1 + (i * 3) % 4, False, items)
# The order whose account is not in the org: it fails, and so do its items.
MISSING_ACCOUNT = id18("0015g00000ZZZZZ")
bad_order_id = new_id("801")
bad_order = {"attributes": attrs("Order", bad_order_id), "Id": bad_order_id, "Name": "Order for a deleted account",
             "OrderNumber": "00000999", "Status": "Draft", "EffectiveDate": "2024-05-05", "CurrencyIsoCode": "USD",
             "AccountId": MISSING_ACCOUNT, "Description": "AccountId names an account that is not in the org: fails."}
orders.append(bad_order)
n_before = len(items)
bad_order["TotalAmount"] = add_items("OrderItem", "802", "OrderId", bad_order_id, 2, False, items)
BAD_ORDER_ITEMS = [it["Id"] for it in items[n_before:]]
# An order item that names only its PricebookEntryId.
items[4].pop("Product2Id")
items[4]["Description"] = "Names only its PricebookEntryId (no Product2Id)."
PBE_ONLY_ITEM = items[4]["Id"]
orders[7]["Id"] = short(orders[7]["Id"])
# Line items point at orders[7] by its 18-char id still: both forms must resolve.
provenance["Order"].append("31 synthesized from the accounts above")
provenance["OrderItem"].append(f"{len(items)} synthesized from the products and their standard price-book entries")

# ---------------------------------------------------------------- quotes

quotes, qlis = [], []
QUOTE_STATUSES = ["Draft", "Needs Review", "In Review", "Presented", "Approved", "Accepted", "Rejected", "Denied"]
quote_opps = [o for o in GOOD_OPPS if o is not O["failedcontact"] and acc18(o["AccountId"]) in {acc18(a["Id"]) for a in accounts}]
for i in range(22):
    opp = quote_opps[(i * 4 + 1) % len(quote_opps)]
    a18 = acc18(opp["AccountId"])
    qid = new_id("0Q0")
    rec = {"attributes": attrs("Quote", qid), "Id": qid, "Name": f"Quote for {opp['Name']}"[:80],
           "QuoteNumber": f"{i + 1:08d}", "Status": QUOTE_STATUSES[i % len(QUOTE_STATUSES)],
           "CurrencyIsoCode": opp.get("CurrencyIsoCode", "USD"),
           "ExpirationDate": f"2024-{1 + (i * 5) % 12:02d}-{1 + (i * 3) % 28:02d}",
           "AccountId": opp["AccountId"], "OpportunityId": opp["Id"] if i % 5 else short(acc18(opp["Id"]))}
    if contacts_of.get(a18):
        rec["ContactId"] = contacts_of[a18][0]
    if i % 4 == 0:
        rec["Description"] = "Valid for 30 days."
    quotes.append(rec)
    parent = qid if i % 3 else short(qid)
    subtotal = add_items("QuoteLineItem", "0QL", "QuoteId", parent, 1 + i % 3, True, qlis)
    tax = money(subtotal * 0.08) if i % 2 == 0 else 0
    discount = 5 if i % 4 == 1 else None
    grand = money(subtotal * (1 - (discount or 0) / 100) + tax)
    rec.update({"Subtotal": subtotal, "Tax": tax, "GrandTotal": grand})
    if discount is not None:
        rec["Discount"] = discount
provenance["Quote"].append(f"{len(quotes)} synthesized from the opportunities above")
provenance["QuoteLineItem"].append(f"{len(qlis)} synthesized from the products")

# ---------------------------------------------------------------- checks

for a in accounts:
    if a is not A["longphone"] and a.get("Phone"):
        assert len(a["Phone"]) <= 20, a["Phone"]
    assert a is A["atlantis"] or a.get("BillingCountry") != "Atlantis"
for c in contacts:
    assert c is C["nolast"] or c.get("LastName"), c
    assert not c.get("Phone") or len(c["Phone"]) <= 20
for o in opps:
    assert o is O["wonbig"] or o["StageName"] in STAGES, o["StageName"]

# ---------------------------------------------------------------- output

FILES = [("Product2", products), ("PricebookEntry", pbes), ("Account", accounts), ("Contact", contacts),
         ("Opportunity", opps), ("Order", orders), ("OrderItem", items), ("Quote", quotes), ("QuoteLineItem", qlis)]
os.makedirs(OUT, exist_ok=True)
for obj, recs in FILES:
    with open(f"{OUT}/{obj}.json", "w", encoding="utf-8") as f:
        json.dump({"totalSize": len(recs), "done": True, "records": recs}, f, ensure_ascii=False, indent=1)
        f.write("\n")


def i18(x):
    return x if len(x) == 18 else id18(x)


FAIL = [
    ("Contact", i18(C["nolast"]["Id"]), "LastName", "required value is missing"),
    ("Opportunity", i18(O["feb30"]["Id"]), "CloseDate", "not a date: \"2024-02-30\""),
    ("Order", i18(bad_order_id), "AccountId", f"required lookup to Account {MISSING_ACCOUNT}, which is not in the org"),
] + [("OrderItem", i18(x), "OrderId", f"required lookup to Order {bad_order_id}, which failed") for x in BAD_ORDER_ITEMS]
WARN = [
    ("Account", i18(A["longphone"]["Id"]), "Phone", "longer than 20 characters: cut to 20"),
    ("Account", i18(A["atlantis"]["Id"]), "BillingCountry", "unknown country \"Atlantis\": left empty"),
    ("Opportunity", i18(O["wonbig"]["Id"]), "StageName", "unknown stage \"Won Big\": default stage used"),
    ("Opportunity", i18(O["failedcontact"]["Id"]), "ContactId",
     f"optional lookup to Contact {i18(C['nolast']['Id'])}, which failed: left empty"),
]
failed = collections.Counter(f[0] for f in FAIL)
counts = [(obj, len(recs), len(recs) - failed[obj], failed[obj]) for obj, recs in FILES]
names = collections.Counter(a["Name"] for a in accounts)
dups = {n: [i18(a["Id"]) for a in accounts if a["Name"] == n] for n, c in names.items() if c > 1}

with open(f"{OUT}/manifest.rs", "w", encoding="utf-8") as f:
    f.write("//! What importing the bundled sample org must give. Generated by\n")
    f.write("//! `scripts/make_sample_org.py`; see `src/source/sample/MANIFEST.md`.\n\n")
    f.write("/// Per object: (object, records in the org, expected imported, expected failed).\n")
    f.write("pub const COUNTS: &[(&str, usize, usize, usize)] = &[\n")
    for c in counts:
        f.write(f"    (\"{c[0]}\", {c[1]}, {c[2]}, {c[3]}),\n")
    f.write("];\n\n")
    for name, rows, doc in [("FAILURES", FAIL, "Records expected to fail: (object, 18-char Id, field, reason)."),
                            ("WARNINGS", WARN, "Records expected to be imported with a warning: (object, 18-char Id, field, reason).")]:
        f.write(f"/// {doc}\npub const {name}: &[(&str, &str, &str, &str)] = &[\n")
        for r in rows:
            f.write("    (" + ", ".join(json.dumps(x, ensure_ascii=False) for x in r) + "),\n")
        f.write("];\n\n")
    f.write("/// Account names held by more than one account: (name, 18-char Ids).\n")
    f.write("pub const DUPLICATE_ACCOUNT_NAMES: &[(&str, &[&str])] = &[\n")
    for n, ids in dups.items():
        f.write(f"    ({json.dumps(n, ensure_ascii=False)}, &[" + ", ".join(json.dumps(x) for x in ids) + "]),\n")
    f.write("];\n")

# Keep the generated Rust as `cargo fmt` would write it (when rustfmt is installed).
try:
    subprocess.run(["rustfmt", "--edition", "2024", f"{OUT}/manifest.rs"], check=True)
except (OSError, subprocess.CalledProcessError) as e:
    print(f"warning: rustfmt not run on manifest.rs: {e}", file=sys.stderr)

total = sum(c[1] for c in counts)
with open(f"{OUT}/MANIFEST.md", "w", encoding="utf-8") as f:
    f.write("# Sample org manifest\n\nGenerated by `scripts/make_sample_org.py`; do not edit by hand. "
            "The same data is in `src/source/sample/manifest.rs` (`salesforce_import::source::sample_manifest`).\n\n")
    f.write(f"## Records\n\n{total} records in all.\n\n| object | in org | imported | failed |\n|---|---:|---:|---:|\n")
    for c in counts:
        f.write(f"| {c[0]} | {c[1]} | {c[2]} | {c[3]} |\n")
    f.write("\n## Expected failures\n\n| object | Id | field | reason |\n|---|---|---|---|\n")
    for r in FAIL:
        f.write(f"| {r[0]} | `{r[1]}` | {r[2]} | {r[3]} |\n")
    f.write("\nThe order's items fail because their required `OrderId` names an order that was not imported.\n")
    f.write("\n## Expected warnings (imported)\n\n| object | Id | field | reason |\n|---|---|---|---|\n")
    for r in WARN:
        f.write(f"| {r[0]} | `{r[1]}` | {r[2]} | {r[3]} |\n")
    f.write("\nThe contact that fails is named by one opportunity only; no order, quote or other record refers to it. "
            "The opportunity that fails is named by no order or quote.\n")
    f.write("\n## Accounts sharing a name\n\n")
    for n, ids in dups.items():
        f.write(f"- {n}: " + ", ".join(f"`{x}`" for x in ids) + "\n")
    f.write("\n## Other awkward cases (imported, no warning)\n\n")
    other = [
        f"Optional fields missing on many records (the {20} replicated accounts carry only Name).",
        "Non-ASCII names: Müller GmbH, Schäfer & Söhne KG, 株式会社 東京, contact Zoë Ångström, 太郎 山田, Jürgen Weiß, product Ersatzteil-Set Größe M.",
        "15-character record Ids: Account " + ", ".join(f"`{a['Id']}`" for a in accounts if len(a["Id"]) == 15)
        + "; Contact " + ", ".join(f"`{c['Id']}`" for c in contacts if len(c["Id"]) == 15)
        + "; Product2 " + ", ".join(f"`{p['Id']}`" for p in products if len(p["Id"]) == 15)
        + "; Opportunity " + ", ".join(f"`{o['Id']}`" for o in opps if len(o["Id"]) == 15)
        + "; Order " + ", ".join(f"`{o['Id']}`" for o in orders if len(o["Id"]) == 15) + ".",
        "15-character lookup values: some Contact.AccountId, Account.ParentId, Opportunity.AccountId/ContactId, "
        "Order.AccountId, OrderItem.OrderId, PricebookEntry.Product2Id (custom price book), Quote.OpportunityId, QuoteLineItem.QuoteId.",
        f"A contact without an account: `{i18(C['noaccount']['Id'])}`.",
        f"Forward parent reference: Account `{i18(PARENT_FORWARD)}` has ParentId `{picked_parent}` (a higher id).",
        f"Backward parent reference: Account `{i18(PARENT_BACKWARD)}` has ParentId `{A['dup1']['Id']}` (a lower id).",
        "Countries spelled: " + ", ".join(sorted({a['BillingCountry'] for a in accounts if a.get('BillingCountry')})) + ".",
        f"An order item with PricebookEntryId and no Product2Id: `{i18(PBE_ONLY_ITEM)}`.",
        f"Price-book entries in a non-standard price book (`{CUSTOM_PB}`, Pricebook2.IsStandard false): "
        + ", ".join(f"`{p['Id']}`" for p in pbes if p["Pricebook2Id"] == CUSTOM_PB) + ".",
        "Numbers as numeric strings (\"500000.0\") on some AnnualRevenue, Amount and Probability values; money with cents.",
    ]
    for o in other:
        f.write(f"- {o}\n")
    f.write("\n## Assumptions behind the expected counts\n\n"
            "- Required lookups: Contact none; Opportunity AccountId; Order AccountId; OrderItem OrderId; "
            "Quote OpportunityId; QuoteLineItem QuoteId; PricebookEntry Product2Id. All of them resolve except "
            "the ones listed under failures.\n"
            "- Optional lookups (unresolved: warning, left empty): Account ParentId, Contact AccountId, "
            "Opportunity ContactId, Order BillToContactId/OpportunityId, Quote AccountId/ContactId.\n"
            "- A price-book entry in a non-standard price book is imported (or skipped) without a warning or "
            "an error; only the standard entry sets the product's price.\n"
            "- An order item without Product2Id takes its product from its PricebookEntryId; no warning.\n"
            "- Numeric strings (\"500000.0\"), 15-character ids, every listed country spelling except "
            "Atlantis, and the Data Loader's upper-case cities import without warnings.\n")

with open(f"{OUT}/PROVENANCE.txt", "w", encoding="utf-8") as f:
    for obj, _ in FILES:
        for line in provenance[obj]:
            f.write(f"{obj}: {line}\n")

print(f"{total} records:", ", ".join(f"{c[0]} {c[1]}" for c in counts))
