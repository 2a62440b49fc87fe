// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Globalization;

namespace AvatarForcing.Standalone
{
    /// <summary>A minimal test harness: named checks, printed as they run, counted.</summary>
    public static class Check
    {
        /// <summary>Checks run so far.</summary>
        public static int Passed { get; private set; }

        /// <summary>Checks failed so far.</summary>
        public static int Failed { get; private set; }

        /// <summary>The failed checks' descriptions.</summary>
        public static readonly List<string> Failures = new List<string>();

        /// <summary>Prints a section heading.</summary>
        public static void Section(string name)
        {
            Console.WriteLine();
            Console.WriteLine("== " + name);
        }

        /// <summary>Prints a note (not a check).</summary>
        public static void Note(string text)
        {
            Console.WriteLine("   " + text);
        }

        /// <summary>Records one check.</summary>
        public static bool That(bool condition, string what)
        {
            if (condition)
            {
                Passed++;
                Console.WriteLine("ok   " + what);
            }
            else
            {
                Failed++;
                Failures.Add(what);
                Console.WriteLine("FAIL " + what);
            }
            return condition;
        }

        /// <summary>Checks that two values are equal (Equals), printing both on failure.</summary>
        public static bool Equal<T>(T expected, T actual, string what)
        {
            bool same = EqualityComparer<T>.Default.Equals(expected, actual);
            return That(same, same ? what : what + ": expected " + Show(expected) + ", got " + Show(actual));
        }

        /// <summary>Checks that <paramref name="action"/> throws a <typeparamref name="TException"/>.</summary>
        public static bool Throws<TException>(Action action, string what) where TException : Exception
        {
            try
            {
                action();
            }
            catch (TException)
            {
                return That(true, what);
            }
            catch (Exception e)
            {
                return That(false, what + ": threw " + e.GetType().Name + " (" + e.Message + ")");
            }
            return That(false, what + ": did not throw");
        }

        /// <summary>A value for messages (strings quoted, doubles round-trip).</summary>
        public static string Show(object value)
        {
            if (value == null) return "null";
            if (value is string) return "\"" + value + "\"";
            if (value is double) return ((double)value).ToString("R", CultureInfo.InvariantCulture);
            if (value is float) return ((float)value).ToString("R", CultureInfo.InvariantCulture);
            return Convert.ToString(value, CultureInfo.InvariantCulture);
        }
    }
}
#endif
