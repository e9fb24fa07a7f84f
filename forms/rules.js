/*
 * Sotay's custom JSON Logic operators for json-logic-js (phone and Node).
 *
 * The server evaluates form rules with forms/jsonlogic.py; the phone with
 * json-logic-js 2.0.5 plus this script, which registers the same custom
 * operators with jsonLogic.add_operation so both sides give the same answer
 * (tests/forms/test_vectors.py runs both and fails on any disagreement).
 * Load it after json-logic-js in the browser (it finds the global
 * `jsonLogic`) or require it in Node (it requires json-logic-js).
 *
 *   today()               current date in Vietnam (UTC+7), "YYYY-MM-DD"
 *   days_between(a, b)    whole days from date a to date b, null if either is not a date
 *   years_between(a, b)   completed years from a to b (age from a birth date), or null
 *   count(x)              length of an array (select_multiple, repeat), else 0
 *   vn_tax_code(x)        mã số thuế: ^\d{10}(-\d{3})?$ and a valid check digit
 *   vn_mobile(x)          Vietnamese mobile number, 0xxxxxxxxx or +84xxxxxxxxx
 *   regex(x, pattern)     x (a text, or a number as String() writes it) matches the
 *                         pattern anywhere; patterns are the portable subset that
 *                         forms/regex.py checks, run with the "u" flag
 *
 * Dates are "YYYY-MM-DD" or ISO datetimes, of which the date part is used.
 */
(function (root) {
  "use strict";

  var jsonLogic = root && root.jsonLogic;
  if (!jsonLogic && typeof require === "function") {
    jsonLogic = require("json-logic-js");
  }

  var DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][\s\S]*)?$/;
  var TAX_CODE = /^\d{10}(-\d{3})?$/;
  var TAX_WEIGHTS = [31, 29, 23, 19, 17, 13, 7, 5, 3];
  var MOBILE_INPUT = /^(?:\+84|0)(\d{9})$/;
  // The mobile ranges of libphonenumber's metadata for VN (Python phonenumbers
  // 9.0.43); the vector test compares every prefix with the Python library.
  var MOBILE =
    /^(?:121[0-3]\d{5}|(?:1[46]0|(?:3\d|7[06-9])\d|5(?:[1689]\d|2[238]|59)|8(?:[1-8]\d|9[6-9])|9(?:[0-8]\d|9[013-9]))\d{6})$/;
  var DAY_MS = 86400000;

  // Days since 1970-01-01 of a real calendar date, or null.
  function dayNumber(value) {
    if (typeof value !== "string") return null;
    var m = DATE.exec(value);
    if (!m) return null;
    var y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
    if (y < 1) return null;
    var date = new Date(Date.UTC(2000, mo - 1, d));
    date.setUTCFullYear(y);
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
      return null;
    }
    return Math.round(date.getTime() / DAY_MS);
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
  }

  function today() {
    var now = new Date(Date.now() + 7 * 3600000);
    return pad(now.getUTCFullYear(), 4) + "-" + pad(now.getUTCMonth() + 1, 2) + "-" +
      pad(now.getUTCDate(), 2);
  }

  function daysBetween(a, b) {
    var start = dayNumber(a), end = dayNumber(b);
    if (start === null || end === null) return null;
    return end - start;
  }

  function yearsBetween(a, b) {
    if (dayNumber(a) === null || dayNumber(b) === null) return null;
    var s = DATE.exec(a), e = DATE.exec(b);
    var years = Number(e[1]) - Number(s[1]);
    var endMD = Number(e[2]) * 100 + Number(e[3]);
    var startMD = Number(s[2]) * 100 + Number(s[3]);
    if (endMD < startMD) years -= 1;
    return years;
  }

  function count(value) {
    return Array.isArray(value) ? value.length : 0;
  }

  // Check digit as in python-stdnum's stdnum.vn.mst.
  function vnTaxCode(value) {
    if (typeof value !== "string" || !TAX_CODE.test(value)) return false;
    if (value.slice(2, 9) === "0000000") return false;
    if (value.length === 14 && value.slice(11) === "000") return false;
    var total = 0;
    for (var i = 0; i < 9; i++) total += TAX_WEIGHTS[i] * Number(value.charAt(i));
    return value.charAt(9) === String(10 - (total % 11));
  }

  function vnMobile(value) {
    if (typeof value !== "string") return false;
    var m = MOBILE_INPUT.exec(value.replace(/[ .\-]/g, ""));
    return m !== null && MOBILE.test(m[1]);
  }

  var patterns = {};

  function regexMatch(value, pattern) {
    if (typeof pattern !== "string") throw new Error("regex: the pattern must be a text");
    var text = typeof value === "string" ? value : typeof value === "number" ? String(value) : null;
    if (text === null) return false;
    if (!Object.prototype.hasOwnProperty.call(patterns, pattern)) {
      patterns[pattern] = new RegExp(pattern, "u");
    }
    return patterns[pattern].test(text);
  }

  var operations = {
    today: today,
    days_between: daysBetween,
    years_between: yearsBetween,
    count: count,
    vn_tax_code: vnTaxCode,
    vn_mobile: vnMobile,
    regex: regexMatch
  };

  Object.keys(operations).forEach(function (name) {
    jsonLogic.add_operation(name, operations[name]);
  });

  if (typeof module === "object" && module.exports) {
    module.exports = jsonLogic;
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
