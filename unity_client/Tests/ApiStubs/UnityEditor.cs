// Compile-only stand-ins for the UnityEditor API members the Avatar Forcing package's editor code
// uses: declarations with the signatures of the documented Unity 2021.3 scripting API (the page
// named in each comment, under https://docs.unity3d.com/2021.3/Documentation/ScriptReference/),
// with bodies that only make them compile. NOT Unity. Unity ignores this folder (no assembly
// definition in a package).
#pragma warning disable 1591

using System;
using UnityEngine;

namespace UnityEditor
{
    /// Editor.html
    public class Editor : ScriptableObject
    {
        /// Editor-target.html
        public UnityEngine.Object target { get; set; }

        /// Editor.OnInspectorGUI.html: public virtual void OnInspectorGUI();
        public virtual void OnInspectorGUI() { }

        /// Editor.DrawDefaultInspector.html: public bool DrawDefaultInspector();
        public bool DrawDefaultInspector() { return false; }
    }

    /// CustomEditor.html
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
    public class CustomEditor : Attribute
    {
        /// CustomEditor.html: public CustomEditor(Type inspectedType);
        public CustomEditor(Type inspectedType) { }
    }

    /// MenuItem.html
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        /// MenuItem.html: public MenuItem(string itemName, bool isValidateFunction, int priority);
        public MenuItem(string itemName, bool isValidateFunction, int priority) { }
    }

    /// Selection.html
    public sealed class Selection
    {
        /// Selection-activeGameObject.html
        public static GameObject activeGameObject { get; set; }
    }

    /// Undo.html
    public class Undo
    {
        /// Undo.RegisterCreatedObjectUndo.html: public static void RegisterCreatedObjectUndo(Object objectToUndo, string name);
        public static void RegisterCreatedObjectUndo(UnityEngine.Object objectToUndo, string name) { }

        /// Undo.RecordObject.html: public static void RecordObject(Object objectToUndo, string name);
        public static void RecordObject(UnityEngine.Object objectToUndo, string name) { }
    }

    /// EditorUtility.html
    public class EditorUtility
    {
        /// EditorUtility.SetDirty.html: public static void SetDirty(Object target);
        public static void SetDirty(UnityEngine.Object target) { }
    }

    /// MessageType.html
    public enum MessageType
    {
        None = 0,
        Info = 1,
        Warning = 2,
        Error = 3,
    }

    /// EditorStyles.html
    public sealed class EditorStyles
    {
        /// EditorStyles-boldLabel.html
        public static GUIStyle boldLabel { get { return null; } }
    }

    /// EditorGUILayout.html
    public class EditorGUILayout
    {
        /// EditorGUILayout.HelpBox.html: public static void HelpBox(string message, MessageType type);
        public static void HelpBox(string message, MessageType type) { }

        /// EditorGUILayout.LabelField.html: public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options);
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) { }

        /// EditorGUILayout.Space.html: public static void Space();
        public static void Space() { }

        /// EditorGUILayout.Foldout.html: public static bool Foldout(bool foldout, string content);
        public static bool Foldout(bool foldout, string content) { return foldout; }
    }
}
