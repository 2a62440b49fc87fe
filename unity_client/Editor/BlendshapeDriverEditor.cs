using AvatarForcing.Unity;
using UnityEditor;
using UnityEngine;

namespace AvatarForcing.EditorTools
{
    /// <summary>
    /// Inspector of <see cref="BlendshapeDriver"/>: the default fields, an "Auto-map ARKit names"
    /// button that fills the mapping table from the mesh's blendshape names, and a mapping report.
    /// </summary>
    [CustomEditor(typeof(BlendshapeDriver))]
    public sealed class BlendshapeDriverEditor : UnityEditor.Editor
    {
        private string report;
        private bool showMeshShapes;

        /// <inheritdoc />
        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var driver = (BlendshapeDriver)target;
            if (driver == null)
            {
                return;
            }

            EditorGUILayout.Space();
            EditorGUILayout.LabelField("ARKit mapping", EditorStyles.boldLabel);
            bool hadGui = GUI.enabled;
            GUI.enabled = hadGui && driver.TargetRenderer != null;
            if (GUILayout.Button("Auto-map ARKit names"))
            {
                Undo.RecordObject(driver, "Auto-map ARKit blendshapes");
                report = driver.AutoMap().Summary();
                EditorUtility.SetDirty(driver);
            }
            if (GUILayout.Button("Check mapping"))
            {
                report = driver.DescribeMapping();
            }
            GUI.enabled = hadGui;

            if (driver.TargetRenderer == null)
            {
                EditorGUILayout.HelpBox("Assign the face's SkinnedMeshRenderer, then press Auto-map.", MessageType.Warning);
            }
            if (!string.IsNullOrEmpty(report))
            {
                EditorGUILayout.HelpBox(report, MessageType.Info);
            }

            string[] names = driver.MeshBlendshapeNames();
            showMeshShapes = EditorGUILayout.Foldout(showMeshShapes, "Mesh blendshapes (" + names.Length + ")");
            if (showMeshShapes)
            {
                EditorGUILayout.HelpBox(names.Length == 0 ? "(none)" : string.Join("\n", names), MessageType.None);
            }
        }
    }
}
