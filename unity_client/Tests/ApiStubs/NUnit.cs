// A minimal stand-in for the subset of NUnit 3 (nunit.framework.dll, which the Unity Test
// Framework ships) that the package's tests use, so that the engine-free tests also compile and
// run with plain mono where NUnit is not installed (tests/unity_client/test_unity_layer_compiles.py).
// Signatures follow https://docs.nunit.org/articles/nunit/writing-tests/assertions/classic-assertions/
// (Assert.AreEqual(object expected, object actual), Assert.AreEqual(double expected, double actual,
// double delta), Assert.IsTrue(bool condition), ..., Assert.Throws<TActual>(TestDelegate code)).
// Inside Unity the real NUnit is used. Unity ignores this folder (no assembly definition in a package).
#pragma warning disable 1591

using System;
using System.Collections;

namespace NUnit.Framework
{
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = true)]
    public class TestFixtureAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
    public class TestAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
    public class SetUpAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
    public class TearDownAttribute : Attribute
    {
    }

    public delegate void TestDelegate();

    public class AssertionException : Exception
    {
        public AssertionException(string message) : base(message) { }
    }

    public static class Assert
    {
        public static void AreEqual(object expected, object actual)
        {
            AreEqual(expected, actual, null);
        }

        public static void AreEqual(object expected, object actual, string message)
        {
            if (IsNumber(expected) && IsNumber(actual))
            {
                if (Convert.ToDouble(expected) == Convert.ToDouble(actual)) return;
            }
            else if (Equals(expected, actual))
            {
                return;
            }
            Fail("Expected: " + Show(expected) + "\n  But was: " + Show(actual), message);
        }

        public static void AreEqual(double expected, double actual, double delta)
        {
            AreEqual(expected, actual, delta, null);
        }

        public static void AreEqual(double expected, double actual, double delta, string message)
        {
            if (Math.Abs(expected - actual) <= delta || expected.Equals(actual)) return;
            Fail("Expected: " + expected + " +/- " + delta + "\n  But was: " + actual, message);
        }

        public static void AreNotEqual(object expected, object actual)
        {
            if (Equals(expected, actual)) Fail("Expected not: " + Show(expected), null);
        }

        public static void IsTrue(bool condition)
        {
            IsTrue(condition, null);
        }

        public static void IsTrue(bool condition, string message)
        {
            if (!condition) Fail("Expected: True\n  But was: False", message);
        }

        public static void IsFalse(bool condition)
        {
            IsFalse(condition, null);
        }

        public static void IsFalse(bool condition, string message)
        {
            if (condition) Fail("Expected: False\n  But was: True", message);
        }

        public static void IsNull(object anObject)
        {
            if (anObject != null) Fail("Expected: null\n  But was: " + Show(anObject), null);
        }

        public static void IsNotNull(object anObject)
        {
            if (anObject == null) Fail("Expected: not null", null);
        }

        public static void Greater(double arg1, double arg2)
        {
            if (!(arg1 > arg2)) Fail("Expected: greater than " + arg2 + "\n  But was: " + arg1, null);
        }

        public static void Less(double arg1, double arg2)
        {
            if (!(arg1 < arg2)) Fail("Expected: less than " + arg2 + "\n  But was: " + arg1, null);
        }

        public static void Contains(object expected, ICollection actual)
        {
            foreach (object item in actual)
            {
                if (Equals(item, expected)) return;
            }
            Fail("Expected: collection containing " + Show(expected), null);
        }

        public static TActual Throws<TActual>(TestDelegate code) where TActual : Exception
        {
            try
            {
                code();
            }
            catch (TActual e)
            {
                if (e.GetType() == typeof(TActual)) return e;
                Fail("Expected: " + typeof(TActual) + "\n  But was: " + e.GetType(), null);
            }
            catch (Exception e)
            {
                Fail("Expected: " + typeof(TActual) + "\n  But was: " + e.GetType(), null);
            }
            Fail("Expected: " + typeof(TActual) + "\n  But was: no exception", null);
            return null;
        }

        public static void Fail(string message)
        {
            throw new AssertionException(message);
        }

        private static void Fail(string text, string message)
        {
            throw new AssertionException(string.IsNullOrEmpty(message) ? text : message + "\n  " + text);
        }

        private static bool IsNumber(object o)
        {
            return o is int || o is long || o is short || o is byte || o is float || o is double || o is decimal;
        }

        private static string Show(object o)
        {
            return o == null ? "null" : o is string ? "\"" + o + "\"" : o.ToString();
        }
    }
}
