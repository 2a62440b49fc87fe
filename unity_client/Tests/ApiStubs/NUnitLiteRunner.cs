// Runs the [TestFixture]/[Test] methods of this assembly with plain mono (no NUnit console):
// prints one line per failure and a summary, exits 1 when a test failed. Used by
// tests/unity_client/test_unity_layer_compiles.py together with NUnit.cs. Not part of the package.
#pragma warning disable 1591

using System;
using System.Linq;
using System.Reflection;
using NUnit.Framework;

public static class NUnitLiteRunner
{
    public static int Main(string[] args)
    {
        int passed = 0;
        int failed = 0;
        var fixtures = typeof(NUnitLiteRunner).Assembly.GetTypes()
            .Where(t => t.GetCustomAttributes(typeof(TestFixtureAttribute), true).Length > 0)
            .OrderBy(t => t.FullName);
        foreach (Type fixture in fixtures)
        {
            MethodInfo[] methods = fixture.GetMethods(BindingFlags.Public | BindingFlags.Instance);
            MethodInfo setUp = methods.FirstOrDefault(m => m.GetCustomAttributes(typeof(SetUpAttribute), true).Length > 0);
            MethodInfo tearDown = methods.FirstOrDefault(m => m.GetCustomAttributes(typeof(TearDownAttribute), true).Length > 0);
            foreach (MethodInfo test in methods.Where(m => m.GetCustomAttributes(typeof(TestAttribute), true).Length > 0).OrderBy(m => m.Name))
            {
                string name = fixture.FullName + "." + test.Name;
                if (args.Length > 0 && !args.Any(a => name.Contains(a)))
                {
                    continue;
                }
                object instance = Activator.CreateInstance(fixture);
                try
                {
                    if (setUp != null) setUp.Invoke(instance, null);
                    test.Invoke(instance, null);
                    if (tearDown != null) tearDown.Invoke(instance, null);
                    passed++;
                }
                catch (TargetInvocationException e)
                {
                    failed++;
                    Console.WriteLine("FAIL " + name + ": " + e.InnerException);
                }
            }
        }
        Console.WriteLine("passed " + passed + ", failed " + failed);
        return failed == 0 && passed > 0 ? 0 : 1;
    }
}
