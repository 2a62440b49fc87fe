/*
 * The built-in stylised 2D avatar ("cartoon") for a browser canvas: a port of
 * models/render/cartoon.py (cartoon_pose and _Painter) that draws the same avatar on a
 * CanvasRenderingContext2D. A plain script, no build step:
 *
 *   <script src="cartoon.js"></script>
 *   <canvas id="avatar" width="512" height="512"></canvas>
 *   <script>
 *     const ctx = document.getElementById("avatar").getContext("2d");
 *     AvatarCartoon.draw(ctx, {JawOpen: 0.4, EyeBlinkLeft: 1, HeadYaw: 10}, 512, 512, {hair: "#5B3F66"});
 *   </script>
 *
 * window.AvatarCartoon:
 *   CHANNELS                   the 58 ARKit channel names in frame order (52 blendshapes, then
 *                              HeadYaw, HeadPitch, HeadRoll in degrees, HeadX, HeadY, HeadZ in cm)
 *   DEFAULTS                   the default options
 *   draw(ctx, frame, width, height, options)
 *                              frame: {ChannelName: number} in ARKit PascalCase (missing = 0);
 *                              clears the width x height area to transparent (or options.background)
 *                              and draws the avatar fitted into the smaller side, centred.
 *   drawArray(ctx, values, width, height, options)
 *                              the same from an array (or typed array) in CHANNELS order
 *   fromArray(values)          array in CHANNELS order -> frame object
 *   pose(frame)                the clamped shape parameters (as cartoon_pose in Python)
 *
 * options use the Python renderer's option names (snake_case, as in CartoonConfig and the
 * session's renderer_options): background ("transparent" or "#RRGGBB"), skin, hair, eyes, shirt,
 * mouth, outline_color ("#RRGGBB"), outline (line width in pixels at 512 x 512, 0 = none), blush
 * (0..1). camelCase spellings (outlineColor) are accepted too; width / height are ignored there (they
 * are draw()'s arguments). Unknown options and invalid values throw an Error.
 *
 * Keep this file in step with models/render/cartoon.py: tests/models/render/test_cartoon_js.py
 * draws both and compares the pixels.
 */
(function (global) {
  "use strict";

  const BLENDSHAPES = [
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft",
    "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
    "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
    "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
    "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
  ];
  const HEAD_POSE = ["HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ"];
  const CHANNELS = BLENDSHAPES.concat(HEAD_POSE);

  // ------------------------------------------------------------------------------------ layout
  const DESIGN = 900.0;
  const HEAD_CY = -40.0;
  const PIVOT_Y = 190.0;
  const MAX_ANGLE = 45.0;
  const YAW_GAIN = 0.75;
  const PITCH_GAIN = 0.6;
  const MAX_SHIFT_CM = 6.0;
  const CM = 7.0;
  const MAX_Z_CM = 8.0;
  const Z_SCALE = 0.015;

  const FACE_DEPTH = 120.0;
  const FACE_CURVE = 250.0;
  const CHIN_DEPTH = 115.0;
  const HEAD_SHIFT = 36.0;

  const EYE_X = 92.0, EYE_Y = 22.0;
  const EYE_W = 54.0, EYE_H = 42.0;
  const IRIS_RX = 29.0, IRIS_RY = 37.0;
  const BROW_Y = -EYE_H - 38.0;
  const NOSE_Y = 98.0;
  const MOUTH_Y = 152.0;
  const MOUTH_W = 44.0;
  const CHIN_V = 242.0;
  const BLUSH_X = 132.0, BLUSH_Y = 102.0;

  const FACE_TOP = [0.0, -268.0, 0.0];
  const FACE_RIGHT = [
    [[122.0, -268.0, 0.0], [206.0, -216.0, 0.0], [216.0, -120.0, 0.0]],
    [[224.0, -50.0, 0.0], [228.0, 22.0, 0.1], [214.0, 96.0, 0.2]],
    [[200.0, 160.0, 0.45], [112.0, 232.0, 0.85], [0.0, CHIN_V, 1.0]],
  ];
  const BACK_TOP = [0.0, -314.0, 0.0];
  const BACK_RIGHT = [
    [[152.0, -314.0, 0.0], [254.0, -248.0, 0.0], [262.0, -120.0, -0.1]],
    [[270.0, -10.0, -0.1], [262.0, 150.0, -0.15], [298.0, 296.0, -0.15]],
    [[262.0, 284.0, -0.15], [236.0, 270.0, -0.15], [214.0, 262.0, -0.15]],
    [[204.0, 284.0, -0.15], [180.0, 300.0, -0.15], [150.0, 310.0, -0.15]],
    [[120.0, 290.0, -0.15], [60.0, 280.0, -0.15], [0.0, 280.0, -0.15]],
  ];
  const FRINGE = [
    [190.0, -112.0], [166.0, -42.0], [132.0, -150.0], [94.0, -70.0], [58.0, -160.0], [12.0, -64.0],
    [-28.0, -156.0], [-80.0, -60.0], [-116.0, -150.0], [-160.0, -48.0], [-190.0, -112.0],
  ];

  const DEFAULTS = Object.freeze({
    background: "transparent",
    skin: "#FCDCC9",
    hair: "#5B3F66",
    eyes: "#3C9FB5",
    shirt: "#5C6FD6",
    mouth: "#C9566A",
    outline_color: "#3A2933",
    outline: 2.5,
    blush: 0.5,
  });
  const COLOR_OPTIONS = ["skin", "hair", "eyes", "shirt", "mouth", "outline_color"];
  const HEX = /^#[0-9a-fA-F]{6}$/;

  // -------------------------------------------------------------------------------------- pose
  function clip(x, lo, hi) {
    return x < lo ? lo : x > hi ? hi : x;
  }

  function num(v) {
    const x = Number(v); // not a number (or NaN) counts as 0; +-Infinity clamps like a large value
    return Number.isNaN(x) ? 0.0 : x;
  }

  function eyeShape(b, side) {
    const blink = b["EyeBlink" + side], squint = b["EyeSquint" + side], wide = b["EyeWide" + side];
    const lookIn = b["EyeLookIn" + side], lookOut = b["EyeLookOut" + side];
    const up = b["EyeLookUp" + side], down = b["EyeLookDown" + side];
    const cheek = b["CheekSquint" + side];
    const closedAt = EYE_H * (0.42 - 0.8 * cheek);
    const openUpper = -1.333 * EYE_H * (1.0 + 0.22 * wide - 0.2 * squint - 0.12 * down + 0.06 * up);
    const restLower = 1.07 * EYE_H * (1.0 - 0.3 * squint - 0.22 * cheek);
    const upper = openUpper + (closedAt - openUpper) * blink;
    const lower = restLower + (closedAt - restLower) * blink * blink;
    return {
      upper: Math.min(upper, lower),
      lower: lower,
      gaze_x: (lookOut - lookIn) * 0.42 * EYE_W,
      gaze_y: (down - up) * 0.3 * EYE_H,
      iris: 1.0 - 0.12 * wide,
    };
  }

  function browShape(b, side) {
    const down = b["BrowDown" + side], outer = b["BrowOuterUp" + side], inner = b["BrowInnerUp"];
    const innerY = BROW_Y + 6.0 - 24.0 * inner + 15.0 * down;
    const outerY = BROW_Y + 8.0 - 22.0 * outer + 5.0 * down + 4.0 * inner;
    return {
      inner_x: -0.78 * EYE_W - 5.0 * down,
      inner_y: innerY,
      mid_y: 0.5 * (innerY + outerY) - 13.0 - 5.0 * outer + 4.0 * down,
      outer_y: outerY,
    };
  }

  function mouthShape(b) {
    const jaw = b.JawOpen;
    const openJaw = Math.max(0.0, jaw - b.MouthClose);
    const funnel = b.MouthFunnel, pucker = b.MouthPucker;
    const press = 0.5 * (b.MouthPressLeft + b.MouthPressRight);
    const roll = 0.5 * (b.MouthRollLower + b.MouthRollUpper);
    const lowerDown = 0.5 * (b.MouthLowerDownLeft + b.MouthLowerDownRight);
    const upperUp = 0.5 * (b.MouthUpperUpLeft + b.MouthUpperUpRight);
    const smileL = b.MouthSmileLeft, smileR = b.MouthSmileRight;
    const frownL = b.MouthFrownLeft, frownR = b.MouthFrownRight;
    const tongue = b.TongueOut;
    let height = 100.0 * openJaw + 16.0 * lowerDown + 12.0 * upperUp + 14.0 * funnel + 10.0 * tongue;
    height *= (1.0 - 0.75 * Math.max(press, roll)) * (1.0 - 0.8 * b.CheekPuff) * (1.0 - 0.5 * pucker);
    height = clip(height, 0.0, 100.0);

    function halfWidth(side) {
      let w = 1.0 + 0.32 * b["MouthStretch" + side] + 0.24 * b["MouthSmile" + side] + 0.1 * b["MouthDimple" + side];
      w += 0.08 * b["MouthPress" + side] - 0.45 * pucker - 0.32 * funnel - 0.14 * openJaw;
      return MOUTH_W * Math.max(w, 0.3);
    }

    function cornerY(side) {
      return (
        -15.0 * b["MouthSmile" + side] +
        12.0 * b["MouthFrown" + side] +
        3.0 * b["MouthStretch" + side] -
        3.0 * b["MouthDimple" + side]
      );
    }

    const shift = 20.0 * (b.MouthLeft - b.MouthRight) + 10.0 * (b.JawLeft - b.JawRight);
    const sag = 4.0 * (smileL + smileR) - 3.0 * (frownL + frownR) - 4.0 * b.MouthShrugUpper;
    const rightX = shift - halfWidth("Right"), leftX = shift + halfWidth("Left");
    const upperX = 0.5 * (rightX + leftX);
    return {
      right_x: rightX,
      right_y: cornerY("Right"),
      left_x: leftX,
      left_y: cornerY("Left"),
      upper_x: upperX,
      upper_y: sag - 0.2 * height - 3.0 * b.MouthShrugLower,
      lower_x: upperX + 8.0 * (b.JawLeft - b.JawRight),
      lower_y: sag + 0.8 * height - 3.0 * b.MouthShrugLower,
      roundness: clip(0.12 + 0.75 * funnel + 0.6 * pucker + 0.35 * openJaw, 0.0, 1.0),
      tongue: tongue,
      pucker: pucker,
    };
  }

  function pose(frame) {
    frame = frame || {};
    const b = {};
    for (const name of BLENDSHAPES) b[name] = clip(num(frame[name]), 0.0, 1.0);
    const smile = 0.5 * (b.MouthSmileLeft + b.MouthSmileRight);
    const squint = 0.5 * (b.CheekSquintLeft + b.CheekSquintRight);
    return {
      yaw: clip(num(frame.HeadYaw), -MAX_ANGLE, MAX_ANGLE),
      pitch: clip(num(frame.HeadPitch), -MAX_ANGLE, MAX_ANGLE),
      roll: clip(num(frame.HeadRoll), -MAX_ANGLE, MAX_ANGLE),
      shift_x: CM * clip(num(frame.HeadX), -MAX_SHIFT_CM, MAX_SHIFT_CM),
      shift_y: -CM * clip(num(frame.HeadY), -MAX_SHIFT_CM, MAX_SHIFT_CM),
      scale: 1.0 + Z_SCALE * clip(num(frame.HeadZ), -MAX_Z_CM, MAX_Z_CM),
      left_eye: eyeShape(b, "Left"),
      right_eye: eyeShape(b, "Right"),
      left_brow: browShape(b, "Left"),
      right_brow: browShape(b, "Right"),
      mouth: mouthShape(b),
      jaw_drop: 22.0 * b.JawOpen,
      cheek_puff: b.CheekPuff,
      blush: 0.6 + 0.4 * Math.max(smile, squint, b.CheekPuff),
      sneer: 0.5 * (b.NoseSneerLeft + b.NoseSneerRight),
    };
  }

  // ----------------------------------------------------------------------------------- colours
  function hexRgb(value) {
    return [parseInt(value.slice(1, 3), 16), parseInt(value.slice(3, 5), 16), parseInt(value.slice(5, 7), 16)];
  }

  function mix(a, b, t) {
    return [
      Math.floor(a[0] + (b[0] - a[0]) * t + 0.5),
      Math.floor(a[1] + (b[1] - a[1]) * t + 0.5),
      Math.floor(a[2] + (b[2] - a[2]) * t + 0.5),
    ];
  }

  const WHITE = [255, 255, 255];
  const BLACK = [0, 0, 0];

  function palette(o) {
    const skin = hexRgb(o.skin), hair = hexRgb(o.hair), eyes = hexRgb(o.eyes);
    const shirt = hexRgb(o.shirt), mouth = hexRgb(o.mouth), line = hexRgb(o.outline_color);
    return {
      skin: skin,
      skin_shade: mix(skin, [214, 120, 130], 0.3),
      skin_line: mix(skin, [150, 70, 80], 0.5),
      hair: hair,
      hair_light: mix(hair, WHITE, 0.25),
      hair_back: mix(hair, BLACK, 0.22),
      hair_shine: mix(hair, WHITE, 0.55),
      brow: mix(hair, BLACK, 0.35),
      lash: mix(mix(hair, line, 0.5), BLACK, 0.45),
      eyes: eyes,
      iris_dark: mix(eyes, BLACK, 0.5),
      iris_light: mix(eyes, WHITE, 0.4),
      pupil: mix(eyes, BLACK, 0.78),
      sclera: [255, 255, 255],
      shirt: shirt,
      shirt_light: mix(shirt, WHITE, 0.35),
      shirt_dark: mix(shirt, BLACK, 0.18),
      mouth: mouth,
      mouth_inside: mix(mouth, BLACK, 0.6),
      mouth_line: mix(mouth, BLACK, 0.45),
      tongue: mix(mouth, WHITE, 0.3),
      teeth: [255, 253, 250],
      blush: [255, 118, 128],
      line: line,
    };
  }

  function css(rgb, alpha) {
    const a = Math.floor(clip(alpha === undefined ? 1.0 : alpha, 0.0, 1.0) * 255.0 + 0.5);
    return "rgba(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + "," + a / 255 + ")";
  }

  function resolveOptions(options) {
    const o = Object.assign({}, DEFAULTS);
    for (const key of Object.keys(options || {})) {
      const snake = key.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
      if (snake === "width" || snake === "height") continue; // given as draw()'s arguments
      if (!(snake in DEFAULTS)) {
        throw new Error("AvatarCartoon: unknown option " + JSON.stringify(key) +
          "; valid options: " + Object.keys(DEFAULTS).join(", "));
      }
      o[snake] = options[key];
    }
    for (const key of COLOR_OPTIONS) {
      if (typeof o[key] !== "string" || !HEX.test(o[key])) {
        throw new Error("AvatarCartoon: " + key + " must be a colour like '#A1B2C3', got " + JSON.stringify(o[key]));
      }
    }
    const bg = o.background;
    if (typeof bg !== "string" || !(bg.toLowerCase() === "transparent" || HEX.test(bg))) {
      throw new Error("AvatarCartoon: background must be 'transparent' or a colour like '#A1B2C3'");
    }
    for (const [key, hi] of [["outline", 12.0], ["blush", 1.0]]) {
      const v = Number(o[key]);
      if (!(v >= 0.0 && v <= hi)) throw new Error("AvatarCartoon: " + key + " must be a number in 0.." + hi);
      o[key] = v;
    }
    return o;
  }

  // -------------------------------------------------------------------------------- projection
  function View(yaw, pitch) {
    const y = (YAW_GAIN * yaw * Math.PI) / 180.0, p = (PITCH_GAIN * pitch * Math.PI) / 180.0;
    this.sy = Math.sin(y);
    this.cy = Math.cos(y);
    this.sp = Math.sin(p);
    this.cp = Math.cos(p);
    this.hx = HEAD_SHIFT * this.sy;
    this.hy = -12.0 * this.sp;
  }

  View.prototype.feat = function (u, v, lift) {
    const z = FACE_DEPTH * (1.0 - (u / FACE_CURVE) ** 2) + (lift || 0.0);
    const x = u * this.cy + z * this.sy;
    const depth = z * this.cy - u * this.sy;
    return [x + this.hx, v * this.cp - depth * this.sp + this.hy];
  };

  View.prototype.featScale = function (u) {
    const sx = this.cy - ((2.0 * FACE_DEPTH * u) / (FACE_CURVE * FACE_CURVE)) * this.sy;
    return [Math.max(sx, 0.3), this.cp];
  };

  View.prototype.sil = function (u, v, fwd) {
    fwd = fwd || 0.0;
    const far = u * this.sy > 0.0;
    const gx = far ? 1.0 - 0.05 * Math.abs(this.sy) : 1.0;
    const x = u * gx + fwd * CHIN_DEPTH * this.sy + this.hx;
    const y = v * (1.0 - 0.06 * Math.abs(this.sp)) - fwd * CHIN_DEPTH * this.sp + this.hy;
    return [x, y];
  };

  function headPoint(ps, u, v) {
    const x = u * ps.scale, y = (v + HEAD_CY - PIVOT_Y) * ps.scale;
    const r = (ps.roll * Math.PI) / 180.0;
    const cr = Math.cos(r), sr = Math.sin(r);
    return [x * cr - y * sr + ps.shift_x, x * sr + y * cr + PIVOT_Y + ps.shift_y];
  }

  // ------------------------------------------------------------------------------------- paths
  function PathBuilder() {
    this.path = new Path2D();
  }
  PathBuilder.prototype.move = function (p) { this.path.moveTo(p[0], p[1]); return this; };
  PathBuilder.prototype.line = function (p) { this.path.lineTo(p[0], p[1]); return this; };
  PathBuilder.prototype.quad = function (c, p) { this.path.quadraticCurveTo(c[0], c[1], p[0], p[1]); return this; };
  PathBuilder.prototype.cubic = function (c1, c2, p) {
    this.path.bezierCurveTo(c1[0], c1[1], c2[0], c2[1], p[0], p[1]);
    return this;
  };
  PathBuilder.prototype.close = function () { this.path.closePath(); return this.path; };
  PathBuilder.prototype.done = function () { return this.path; };

  function oval(cx, cy, rx, ry) {
    const path = new Path2D();
    path.ellipse(cx, cy, Math.abs(rx), Math.abs(ry), 0, 0, 2 * Math.PI);
    return path;
  }

  // ----------------------------------------------------------------------------------- painter
  function Painter(ctx, o) {
    this.ctx = ctx;
    this.c = palette(o);
    this.lineWidth = (o.outline * DESIGN) / 512.0;
    this.blushStrength = o.blush;
    const c = this.c;
    this.neckShader = this.linear([0.0, 170.0], [0.0, 250.0], c.skin_shade, c.skin);
    this.bodyShader = this.linear([0.0, 300.0], [0.0, 500.0], c.shirt, c.shirt_dark);
    this.hairShader = this.linear([0.0, -320.0], [0.0, -60.0], c.hair_light, c.hair);
    this.irisShader = this.linear([0.0, -IRIS_RY], [0.0, IRIS_RY], c.iris_dark, c.iris_light);
    const g = ctx.createRadialGradient(0, 0, 0, 0, 0, 1.0);
    g.addColorStop(0, css(c.blush, 1.0));
    g.addColorStop(1, css(c.blush, 0.0));
    this.blushShader = g;
  }

  Painter.prototype.linear = function (p0, p1, c0, c1) {
    const g = this.ctx.createLinearGradient(p0[0], p0[1], p1[0], p1[1]);
    g.addColorStop(0, css(c0));
    g.addColorStop(1, css(c1));
    return g;
  };

  Painter.prototype.fill = function (path, rgb, alpha) {
    this.ctx.fillStyle = css(rgb, alpha);
    this.ctx.fill(path);
  };

  Painter.prototype.shade = function (path, shader, alpha) {
    const ctx = this.ctx;
    ctx.fillStyle = shader;
    ctx.globalAlpha = alpha === undefined ? 1.0 : alpha;
    ctx.fill(path);
    ctx.globalAlpha = 1.0;
  };

  Painter.prototype.line = function (path, rgb, width, alpha) {
    if (width <= 0.0) return;
    const ctx = this.ctx;
    ctx.strokeStyle = css(rgb, alpha);
    ctx.lineWidth = width;
    ctx.stroke(path);
  };

  Painter.prototype.outline = function (path) {
    this.line(path, this.c.line, this.lineWidth);
  };

  Painter.prototype.draw = function (ps) {
    const ctx = this.ctx;
    const view = new View(ps.yaw, ps.pitch);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.save();
    headTransform(ctx, ps);
    this.backHair(view);
    ctx.restore();
    this.body(ps);
    ctx.save();
    headTransform(ctx, ps);
    this.ears(view);
    const face = this.facePath(view, ps);
    this.fill(face, this.c.skin);
    const front = this.frontHairPath(view);
    ctx.save();
    ctx.clip(face);
    this.faceShading(view, ps, front);
    this.nose(view, ps);
    this.mouth(view, ps.mouth);
    this.eye(view, ps.left_eye, 1.0);
    this.eye(view, ps.right_eye, -1.0);
    ctx.restore();
    this.outline(face);
    this.frontHair(view, front);
    ctx.save();
    ctx.clip(face);
    this.brow(view, ps.left_brow, 1.0);
    this.brow(view, ps.right_brow, -1.0);
    ctx.restore();
    ctx.restore();
  };

  function headTransform(ctx, ps) {
    ctx.translate(ps.shift_x, PIVOT_Y + ps.shift_y);
    ctx.rotate((ps.roll * Math.PI) / 180.0);
    ctx.scale(ps.scale, ps.scale);
    ctx.translate(0.0, HEAD_CY - PIVOT_Y);
  }

  Painter.prototype.body = function (ps) {
    const head = (u, v) => headPoint(ps, u, v);
    const neck = new PathBuilder()
      .move(head(-58.0, 180.0))
      .line(head(58.0, 180.0))
      .cubic(head(58.0, 262.0), [64.0, 300.0], [76.0, 420.0])
      .line([-76.0, 420.0])
      .cubic([-64.0, 300.0], head(-58.0, 262.0), head(-58.0, 180.0))
      .close();
    this.shade(neck, this.neckShader);
    this.outline(neck);
    const body = new PathBuilder()
      .move([-68.0, 300.0])
      .cubic([-120.0, 326.0], [-250.0, 332.0], [-330.0, 374.0])
      .cubic([-400.0, 410.0], [-430.0, 470.0], [-440.0, 540.0])
      .line([440.0, 540.0])
      .cubic([430.0, 470.0], [400.0, 410.0], [330.0, 374.0])
      .cubic([250.0, 332.0], [120.0, 326.0], [68.0, 300.0])
      .quad([0.0, 410.0], [-68.0, 300.0])
      .close();
    this.shade(body, this.bodyShader);
    const collar = new PathBuilder().move([-70.0, 300.0]).quad([0.0, 412.0], [70.0, 300.0]).done();
    this.line(collar, this.c.shirt_light, 14.0);
    this.outline(body);
    for (const sign of [1.0, -1.0]) {
      const fold = new PathBuilder().move([sign * 250.0, 420.0]).quad([sign * 262.0, 470.0], [sign * 258.0, 520.0]);
      this.line(fold.done(), this.c.shirt_dark, 5.0);
    }
  };

  function outlinePath(view, top, right, dv, du) {
    const pts = [top];
    for (const seg of right) for (const p of seg) pts.push(p);
    function pt(i, sign) {
      let u = pts[i][0], v = pts[i][1];
      if (i > 0) {
        u += du ? du[i - 1] : 0.0;
        v += dv ? dv[i - 1] : 0.0;
      }
      return view.sil(sign * u, v, pts[i][2]);
    }
    const pb = new PathBuilder().move(pt(0, 1.0));
    for (let k = 0; k < right.length; k++) pb.cubic(pt(3 * k + 1, 1.0), pt(3 * k + 2, 1.0), pt(3 * k + 3, 1.0));
    for (let k = right.length - 1; k >= 0; k--) pb.cubic(pt(3 * k + 2, -1.0), pt(3 * k + 1, -1.0), pt(3 * k, -1.0));
    return pb.close();
  }

  Painter.prototype.facePath = function (view, ps) {
    const j = ps.jaw_drop, p = ps.cheek_puff;
    const dv = [0.0, 0.0, 0.0, 0.0, 0.1 * j, 0.25 * j, 0.5 * j, 0.85 * j, j];
    const du = [0.0, 0.0, 0.0, 0.0, 6.0 * p, 14.0 * p, 18.0 * p, 8.0 * p, 0.0];
    return outlinePath(view, FACE_TOP, FACE_RIGHT, dv, du);
  };

  Painter.prototype.backHair = function (view) {
    const path = outlinePath(view, BACK_TOP, BACK_RIGHT, null, null);
    this.fill(path, this.c.hair_back);
    this.outline(path);
  };

  Painter.prototype.ears = function (view) {
    const s = (u, v, f) => view.sil(u, v, f);
    for (const sign of [1.0, -1.0]) {
      const ear = new PathBuilder()
        .move(s(sign * 200.0, 8.0, -0.3))
        .cubic(s(sign * 236.0, -14.0, -0.35), s(sign * 262.0, 20.0, -0.35), s(sign * 252.0, 58.0, -0.35))
        .cubic(s(sign * 244.0, 92.0, -0.35), s(sign * 222.0, 112.0, -0.3), s(sign * 204.0, 102.0, -0.3))
        .close();
      this.fill(ear, this.c.skin);
      this.outline(ear);
      const inner = new PathBuilder()
        .move(s(sign * 214.0, 30.0, -0.3))
        .quad(s(sign * 244.0, 24.0, -0.35), s(sign * 234.0, 66.0, -0.35))
        .done();
      this.line(inner, this.c.skin_line, 5.0);
    }
  };

  Painter.prototype.frontHairPath = function (view) {
    const s = (u, v, f) => view.sil(u, v, f), f = (u, v, l) => view.feat(u, v, l);
    const pb = new PathBuilder()
      .move(s(-214.0, 182.0, 0.1))
      .quad(s(-246.0, 40.0, 0.0), s(-238.0, -110.0, 0.0))
      .cubic(s(-238.0, -254.0, 0.0), s(-132.0, -326.0, 0.0), s(0.0, -326.0, 0.0))
      .cubic(s(132.0, -326.0, 0.0), s(238.0, -254.0, 0.0), s(238.0, -110.0, 0.0))
      .quad(s(246.0, 40.0, 0.0), s(214.0, 182.0, 0.1))
      .quad(s(192.0, 60.0, 0.15), f(FRINGE[0][0], FRINGE[0][1], -30.0));
    for (let i = 1; i < FRINGE.length; i += 2) {
      const [nu, nv] = FRINGE[i - 1], [tu, tv] = FRINGE[i], [mu, mv] = FRINGE[i + 1];
      pb.quad(f(nu + 2.0, 0.35 * nv + 0.65 * tv), f(tu, tv, -10.0));
      pb.quad(f(0.5 * (tu + mu) - 14.0, 0.5 * (tv + mv) + 4.0), f(mu, mv, -30.0));
    }
    pb.quad(s(-192.0, 60.0, 0.15), s(-214.0, 182.0, 0.1));
    return pb.close();
  };

  Painter.prototype.frontHair = function (view, path) {
    const ctx = this.ctx;
    const s = (u, v, f) => view.sil(u, v, f);
    const ahoge = new PathBuilder()
      .move(s(-8.0, -300.0))
      .cubic(s(-14.0, -372.0), s(44.0, -398.0), s(78.0, -374.0))
      .cubic(s(38.0, -380.0), s(20.0, -350.0), s(22.0, -300.0))
      .close();
    this.fill(ahoge, this.c.hair);
    this.outline(ahoge);
    this.shade(path, this.hairShader);
    ctx.save();
    ctx.clip(path);
    const shine = new PathBuilder()
      .move(s(-170.0, -208.0))
      .quad(s(0.0, -300.0), s(170.0, -208.0))
      .line(s(150.0, -188.0))
      .quad(s(0.0, -266.0), s(-150.0, -188.0))
      .close();
    this.fill(shine, this.c.hair_shine, 0.55);
    for (const sign of [1.0, -1.0]) {
      const strand = new PathBuilder().move(s(sign * 222.0, -60.0)).quad(s(sign * 226.0, 60.0), s(sign * 212.0, 150.0));
      this.line(strand.done(), this.c.hair_back, 4.0, 0.35);
    }
    for (let i = 2; i < FRINGE.length - 2; i += 2) {
      const [nu, nv] = FRINGE[i];
      const strand = new PathBuilder().move(s(0.45 * nu, -290.0)).quad(s(0.8 * nu, -230.0), view.feat(nu, nv - 6.0, -30.0));
      this.line(strand.done(), this.c.hair_back, 3.5, 0.3);
    }
    ctx.restore();
    this.outline(path);
  };

  Painter.prototype.faceShading = function (view, ps, front) {
    const ctx = this.ctx;
    ctx.save();
    ctx.translate(0.0, 16.0);
    this.fill(front, this.c.skin_shade, 0.75);
    ctx.restore();
    const alpha = this.blushStrength * ps.blush;
    if (alpha <= 0.0) return;
    const lift = (8.0 * Math.max(0.0, ps.blush - 0.6)) / 0.4;
    for (const sign of [1.0, -1.0]) {
      const u = sign * (BLUSH_X + 6.0 * ps.cheek_puff);
      const [x, y] = view.feat(u, BLUSH_Y - lift);
      const [sx, sy] = view.featScale(u);
      ctx.save();
      ctx.translate(x, y);
      ctx.scale(sx * (44.0 + 8.0 * ps.cheek_puff), sy * 22.0);
      this.shade(oval(0.0, 0.0, 1.0, 1.0), this.blushShader, 0.75 * alpha);
      ctx.restore();
      for (const k of [-1.0, 0.0, 1.0]) {
        const hatch = new PathBuilder().move(view.feat(u + k * 14.0 + 5.0, BLUSH_Y - lift - 7.0));
        hatch.line(view.feat(u + k * 14.0 - 5.0, BLUSH_Y - lift + 7.0));
        this.line(hatch.done(), this.c.blush, 3.0, 0.8 * alpha);
      }
    }
  };

  Painter.prototype.nose = function (view, ps) {
    const up = 5.0 * ps.sneer;
    const w = 7.0 + 3.0 * ps.sneer;
    const f = (u, v, l) => view.feat(u, v, l);
    const nose = new PathBuilder().move(f(-w, NOSE_Y - up, 14.0)).quad(f(0.0, NOSE_Y + 6.0 - up, 16.0), f(w, NOSE_Y - up, 14.0));
    this.line(nose.done(), this.c.skin_line, 4.0, 0.85);
    if (ps.sneer > 0.0) {
      for (const sign of [1.0, -1.0]) {
        const wrinkle = new PathBuilder().move(f(sign * 14.0, NOSE_Y - 30.0, 10.0));
        wrinkle.quad(f(sign * 20.0, NOSE_Y - 22.0, 10.0), f(sign * 16.0, NOSE_Y - 12.0, 10.0));
        this.line(wrinkle.done(), this.c.skin_line, 3.0, 0.7 * ps.sneer);
      }
    }
  };

  Painter.prototype.mouth = function (view, m) {
    const ctx = this.ctx;
    const f = (x, y) => view.feat(x, MOUTH_Y + y, 6.0);
    const r = m.roundness;
    const a = m.upper_x - m.right_x, b = m.left_x - m.upper_x;
    const al = m.lower_x - m.right_x, bl = m.left_x - m.lower_x;
    const k = 0.552 * r + 0.3 * (1.0 - r);
    const h = 0.55 * (1.0 - r);
    const opening = new PathBuilder()
      .move(f(m.right_x, m.right_y))
      .cubic(
        f(m.right_x + a * h, m.right_y + (m.upper_y - m.right_y) * k),
        f(m.upper_x - a * 0.552, m.upper_y),
        f(m.upper_x, m.upper_y))
      .cubic(
        f(m.upper_x + b * 0.552, m.upper_y),
        f(m.left_x - b * h, m.left_y + (m.upper_y - m.left_y) * k),
        f(m.left_x, m.left_y))
      .cubic(
        f(m.left_x - bl * h, m.left_y + (m.lower_y - m.left_y) * k),
        f(m.lower_x + bl * 0.552, m.lower_y),
        f(m.lower_x, m.lower_y))
      .cubic(
        f(m.lower_x - al * 0.552, m.lower_y),
        f(m.right_x + al * h, m.right_y + (m.lower_y - m.right_y) * k),
        f(m.right_x, m.right_y))
      .close();
    const gap = m.lower_y - m.upper_y;
    const width = m.left_x - m.right_x;
    if (m.pucker > 0.0) {
      const [x, y] = f(m.upper_x, 0.5 * (m.upper_y + m.lower_y));
      const [sx, sy] = view.featScale(m.upper_x);
      this.fill(oval(x, y, sx * (0.5 * width + 9.0), sy * (0.5 * gap + 12.0)), this.c.mouth, 0.85 * m.pucker);
    }
    if (gap > 0.5) {
      this.fill(opening, this.c.mouth_inside);
      ctx.save();
      ctx.clip(opening);
      const t = Math.min(0.3 * gap, 13.0);
      const teeth = new PathBuilder()
        .move(f(m.right_x, m.upper_y - 20.0))
        .line(f(m.left_x, m.upper_y - 20.0))
        .line(f(m.left_x, m.upper_y + t))
        .quad(f(m.upper_x, m.upper_y + t + 4.0), f(m.right_x, m.upper_y + t))
        .close();
      this.fill(teeth, this.c.teeth);
      const [x, y] = f(m.lower_x, m.lower_y + 2.0);
      const [sx, sy] = view.featScale(m.lower_x);
      this.fill(oval(x, y, sx * 0.36 * width, sy * (6.0 + 0.3 * gap)), this.c.tongue);
      ctx.restore();
    }
    this.line(opening, this.c.mouth_line, 5.0);
    if (m.tongue > 0.0) {
      const tw = 0.3 * width, tl = 34.0 * m.tongue;
      const tongue = new PathBuilder()
        .move(f(m.lower_x - tw, m.lower_y - 3.0))
        .cubic(f(m.lower_x - tw, m.lower_y + tl), f(m.lower_x + tw, m.lower_y + tl), f(m.lower_x + tw, m.lower_y - 3.0))
        .close();
      this.fill(tongue, this.c.tongue);
      this.line(tongue, this.c.mouth_line, 3.0);
    }
    if (gap <= 0.5 || m.lower_y < 30.0) {
      const lip = new PathBuilder()
        .move(f(m.lower_x - 10.0, m.lower_y + 13.0))
        .quad(f(m.lower_x, m.lower_y + 16.0), f(m.lower_x + 10.0, m.lower_y + 13.0));
      this.line(lip.done(), this.c.skin_shade, 4.0, 0.8);
    }
  };

  Painter.prototype.eye = function (view, e, side) {
    const ctx = this.ctx;
    const [x, y] = view.feat(side * EYE_X, EYE_Y);
    const [sx, sy] = view.featScale(side * EYE_X);
    ctx.save();
    ctx.translate(x, y);
    ctx.scale(side * sx, sy);
    const w = EYE_W, up = e.upper, lo = e.lower;
    const ix = -w, iy = 3.0, ox = w, oy = -2.0;
    const sclera = new PathBuilder()
      .move([ix, iy])
      .cubic([-0.55 * w, up], [0.55 * w, up], [ox, oy])
      .cubic([0.6 * w, lo], [-0.6 * w, lo], [ix, iy])
      .close();
    if (lo - up > 0.5) {
      this.fill(sclera, this.c.sclera);
      ctx.save();
      ctx.clip(sclera);
      ctx.save();
      ctx.translate(e.gaze_x, e.gaze_y + 4.0);
      ctx.scale(e.iris, e.iris);
      const iris = oval(0.0, 0.0, IRIS_RX, IRIS_RY);
      this.shade(iris, this.irisShader);
      this.line(iris, this.c.iris_dark, 3.0);
      this.fill(oval(0.0, 3.0, 12.0, 17.0), this.c.pupil);
      const hx = -side * 10.0;
      this.fill(oval(hx, -14.0, 9.0, 10.0), WHITE);
      this.fill(oval(-hx * 1.1, 16.0, 4.5, 4.5), WHITE, 0.9);
      ctx.restore();
      const shadow = new PathBuilder()
        .move([ix, iy])
        .cubic([-0.55 * w, up], [0.55 * w, up], [ox, oy])
        .cubic([0.55 * w, up + 16.0], [-0.55 * w, up + 16.0], [ix, iy])
        .close();
      this.fill(shadow, this.c.iris_dark, 0.22);
      ctx.restore();
      const lower = new PathBuilder().move([0.15 * w, 0.72 * lo]).quad([0.75 * w, 0.62 * lo], [ox, oy + 2.0]);
      this.line(lower.done(), this.c.lash, 2.5, 0.55);
    }
    const lash = new PathBuilder()
      .move([ix - 2.0, iy])
      .cubic([-0.55 * w, up], [0.55 * w, up], [ox, oy])
      .line([ox + 12.0, oy - 12.0])
      .cubic([0.55 * w, up - 12.0], [-0.55 * w, up - 7.0], [ix - 2.0, iy - 3.0])
      .close();
    this.fill(lash, this.c.lash);
    this.line(lash, this.c.lash, 2.0);
    ctx.restore();
  };

  Painter.prototype.brow = function (view, br, side) {
    const ctx = this.ctx;
    const [x, y] = view.feat(side * EYE_X, EYE_Y);
    const [sx, sy] = view.featScale(side * EYE_X);
    ctx.save();
    ctx.translate(x, y);
    ctx.scale(side * sx, sy);
    const ox = 0.86 * EYE_W;
    const brow = new PathBuilder()
      .move([br.inner_x, br.inner_y - 6.0])
      .quad([0.0, br.mid_y - 6.0], [ox, br.outer_y - 2.0])
      .quad([0.0, br.mid_y + 5.0], [br.inner_x, br.inner_y + 6.0])
      .close();
    this.fill(brow, this.c.brow);
    this.line(brow, this.c.brow, 3.0);
    ctx.restore();
  };

  // -------------------------------------------------------------------------------------- API
  function fromArray(values) {
    const frame = {};
    for (let i = 0; i < CHANNELS.length; i++) frame[CHANNELS[i]] = values && i < values.length ? num(values[i]) : 0.0;
    return frame;
  }

  function draw(ctx, frame, width, height, options) {
    const o = resolveOptions(options);
    width = width || ctx.canvas.width;
    height = height || ctx.canvas.height;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1.0;
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, width, height);
    if (o.background.toLowerCase() !== "transparent") {
      ctx.fillStyle = o.background;
      ctx.fillRect(0, 0, width, height);
    }
    const k = Math.min(width, height) / DESIGN;
    ctx.translate(0.5 * width, 0.5 * height);
    ctx.scale(k, k);
    new Painter(ctx, o).draw(pose(frame));
    ctx.restore();
  }

  function drawArray(ctx, values, width, height, options) {
    draw(ctx, fromArray(values), width, height, options);
  }

  global.AvatarCartoon = Object.freeze({
    CHANNELS: Object.freeze(CHANNELS.slice()),
    DEFAULTS: DEFAULTS,
    draw: draw,
    drawArray: drawArray,
    fromArray: fromArray,
    pose: pose,
  });
})(typeof window !== "undefined" ? window : globalThis);
