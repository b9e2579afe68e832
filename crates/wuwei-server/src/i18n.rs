//! Messages for API errors in zh-CN (the default) and English, chosen per request from
//! `Accept-Language`. Codes are stable identifiers for machines; these are the words for people.

use wuwei_domain::validate::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

tokio::task_local! {
    /// The language of the request being answered, set by [`crate::error::localize`].
    pub static LANG: Lang;
}

impl Lang {
    /// Pick from an `Accept-Language` header: the first of our two languages by preference,
    /// Chinese when nothing matches (the users are Chinese; English is the second language).
    pub fn negotiate(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::ZhCn };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Some(Lang::ZhCn)
            } else if tag.starts_with("en") {
                Some(Lang::En)
            } else {
                None
            };
            if let Some(lang) = lang
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::ZhCn)
    }

    pub fn current() -> Lang {
        LANG.try_with(|l| *l).unwrap_or(Lang::ZhCn)
    }
}

/// The message of an error code. `detail` fills in the few messages that quote something.
pub fn message(code: &str, lang: Lang) -> &'static str {
    use Lang::*;
    match (code, lang) {
        ("invalid_json", ZhCn) => "请求内容不是有效的 JSON",
        ("invalid_json", En) => "The request body is not valid JSON",
        ("invalid_query", ZhCn) => "查询参数有误",
        ("invalid_query", En) => "The query parameters are invalid",
        ("invalid_path", ZhCn) => "路径参数有误",
        ("invalid_path", En) => "A path parameter is invalid",
        ("validation_failed", ZhCn) => "提交的内容有误，请检查标出的字段",
        ("validation_failed", En) => "Some fields are invalid; see the fields list",
        ("unauthenticated", ZhCn) => "请先登录",
        ("unauthenticated", En) => "Please sign in first",
        ("invalid_credentials", ZhCn) => "用户名或密码错误",
        ("invalid_credentials", En) => "Wrong username or password",
        ("account_disabled", ZhCn) => "该账号已停用，请联系管理员",
        ("account_disabled", En) => "This account is disabled; ask an administrator",
        ("too_many_attempts", ZhCn) => "尝试次数过多，请稍后再试",
        ("too_many_attempts", En) => "Too many attempts; try again later",
        ("csrf_failed", ZhCn) => "页面已过期或请求来源不可信，请刷新后重试",
        ("csrf_failed", En) => "Missing or wrong CSRF token; reload the page and try again",
        ("forbidden", ZhCn) => "您没有权限执行此操作",
        ("forbidden", En) => "You are not allowed to do this",
        ("not_found", ZhCn) => "找不到所请求的内容",
        ("not_found", En) => "Not found",
        ("method_not_allowed", ZhCn) => "不支持此请求方法",
        ("method_not_allowed", En) => "This method is not allowed here",
        ("conflict", ZhCn) => "与当前状态冲突",
        ("conflict", En) => "This conflicts with the current state",
        ("version_conflict", ZhCn) => "内容已被他人修改，请刷新后再试",
        ("version_conflict", En) => "Someone else changed this; reload and try again",
        ("duplicate", ZhCn) => "已存在相同的记录",
        ("duplicate", En) => "This already exists",
        ("payload_too_large", ZhCn) => "提交的内容过大",
        ("payload_too_large", En) => "The request body is too large",
        ("unsupported_media_type", ZhCn) => "不支持的内容类型，请以 application/json 提交",
        ("unsupported_media_type", En) => "Unsupported content type; send application/json",
        ("timeout", ZhCn) => "处理超时，请稍后再试",
        ("timeout", En) => "The request took too long; try again later",
        ("busy", ZhCn) => "当前办理的人太多，请稍后重试",
        ("busy", En) => "Too many requests are waiting; try again in a moment",
        ("unavailable", ZhCn) => "服务暂时不可用，请稍后再试",
        ("unavailable", En) => "The service is temporarily unavailable; try again later",
        ("internal", ZhCn) => "服务器内部错误，已记录，请稍后再试",
        ("internal", En) => "Internal error; it has been logged",
        ("outside_town", ZhCn) => "该位置不在任何可见的乡镇内",
        ("outside_town", En) => "This location is not inside any town you can see",
        ("action_not_allowed", ZhCn) => "当前状态下不能执行此操作",
        ("action_not_allowed", En) => "This action is not allowed in the case's current state",
        ("follow_up_not_due", ZhCn) => "回访尚未到期，到期后才能确认协议已履行",
        ("follow_up_not_due", En) => {
            "The follow-up visit is not due yet; an agreement can be found holding only once it is"
        }
        ("deadline_not_passed", ZhCn) => "本级调解时限未到",
        ("deadline_not_passed", En) => "This level's deadline has not passed",
        ("reopen_refused", ZhCn) => "该事件不能再重新办理",
        ("reopen_refused", En) => "This case can no longer be reopened",
        ("rated_already", ZhCn) => "该事件已评价过",
        ("rated_already", En) => "This case has been rated already",
        ("idempotency_conflict", ZhCn) => "该幂等键已用于另一个请求",
        ("idempotency_conflict", En) => "This Idempotency-Key was used for a different request",
        ("invalid_multipart", ZhCn) => "上传内容格式有误",
        ("invalid_multipart", En) => "The multipart upload is malformed",
        ("invalid_header", ZhCn) => "请求头有误",
        ("invalid_header", En) => "A request header is invalid",
        ("insufficient_points", ZhCn) => "积分不足",
        ("insufficient_points", En) => "Not enough points",
        ("already_reversed", ZhCn) => "该笔积分已冲正过",
        ("already_reversed", En) => "This posting has been reversed already",
        ("notice_over", ZhCn) => "公示期已结束，不能再提出异议",
        ("notice_over", En) => "The public notice has ended; objections are closed",
        ("notice_running", ZhCn) => "公示期尚未结束",
        ("notice_running", En) => "The public notice is still running",
        ("objection_open", ZhCn) => "尚有未处理的异议",
        ("objection_open", En) => "An objection is still open",
        ("over_cap", ZhCn) => "超过该项积分的上限",
        ("over_cap", En) => "Over the cap of this item",
        ("out_of_stock", ZhCn) => "库存不足",
        ("out_of_stock", En) => "Not enough in stock",
        ("already_returned", ZhCn) => "该兑换已退货，不能重复退货",
        ("already_returned", En) => "This redemption has been returned already",
        // Intake (issue 4): household cards, cameras, alarm webhooks.
        ("invalid_card", ZhCn) => "户卡无效或已作废，请联系村里重新发卡",
        ("invalid_card", En) => "This household card is unknown or revoked; ask the village for a new one",
        ("unknown_camera", ZhCn) => "未登记的摄像头",
        ("unknown_camera", En) => "Unknown camera",
        ("bad_signature", ZhCn) => "签名缺失或不正确",
        ("bad_signature", En) => "The signature is missing or wrong",
        ("stale_request", ZhCn) => "请求时间与服务器相差超过 5 分钟",
        ("stale_request", En) => "The request was signed more than 5 minutes from our clock",
        ("replayed", ZhCn) => "该请求已处理过（重放）",
        ("replayed", En) => "This request was seen before (a replay)",
        (_, ZhCn) => "请求有误",
        (_, En) => "Bad request",
    }
}

/// The message of a field rule.
pub fn rule_message(rule: &Rule, lang: Lang) -> String {
    use Lang::*;
    match (rule, lang) {
        (Rule::Required, ZhCn) => "必填".into(),
        (Rule::Required, En) => "Required".into(),
        (Rule::TooShort { min }, ZhCn) => format!("至少 {min} 个字符"),
        (Rule::TooShort { min }, En) => format!("At least {min} characters"),
        (Rule::TooLong { max }, ZhCn) => format!("最多 {max} 个字符"),
        (Rule::TooLong { max }, En) => format!("At most {max} characters"),
        (Rule::Charset { allowed }, ZhCn) => format!("含有不允许的字符（允许：{allowed}）"),
        (Rule::Charset { allowed }, En) => format!("Contains characters that are not allowed (allowed: {allowed})"),
        (Rule::OutOfRange { min, max }, ZhCn) => format!("应在 {min} 到 {max} 之间"),
        (Rule::OutOfRange { min, max }, En) => format!("Must be between {min} and {max}"),
        (Rule::OneOf { allowed }, ZhCn) => format!("应为以下之一：{}", allowed.join("、")),
        (Rule::OneOf { allowed }, En) => format!("Must be one of: {}", allowed.join(", ")),
        (Rule::UnknownReference, ZhCn) => "引用的对象不存在".into(),
        (Rule::UnknownReference, En) => "Refers to something that does not exist".into(),
        (Rule::Duplicate, ZhCn) => "已被占用".into(),
        (Rule::Duplicate, En) => "Already taken".into(),
        (Rule::Geometry { code, detail }, ZhCn) => format!("边界无效（{}）：{detail}", geometry_zh(code)),
        (Rule::Geometry { code, detail }, En) => format!("Invalid boundary ({code}): {detail}"),
        (Rule::NotAllowed { reason }, ZhCn) => format!("不允许：{}", reason_zh(reason)),
        (Rule::NotAllowed { reason }, En) => format!("Not allowed: {}", reason.replace('_', " ")),
        (Rule::Format { expected }, ZhCn) => format!("格式有误，应为 {expected}"),
        (Rule::Format { expected }, En) => format!("Wrong format; expected {expected}"),
    }
}

fn geometry_zh(code: &str) -> &'static str {
    match code {
        "geometry_not_object" => "不是 GeoJSON 几何对象",
        "geometry_wrong_type" => "类型应为 Polygon 或 MultiPolygon",
        "geometry_shape" => "坐标结构错误",
        "geometry_bad_coordinate" => "坐标超出范围",
        "geometry_ring_not_closed" => "环未闭合",
        "geometry_too_few_points" => "点数不足",
        "geometry_zero_area" => "面积为零",
        "geometry_self_intersecting" => "边界自相交",
        "geometry_too_large" => "顶点过多",
        _ => "几何错误",
    }
}

fn reason_zh(reason: &str) -> &'static str {
    match reason {
        "role_scope_level" => "该角色不能绑定到此级别的区域",
        "outside_your_scope" => "超出您的管辖范围",
        "county_admin_only" => "只有县级管理员可以授予",
        "parent_kind" => "上级区域类型不符",
        "outside_parent" => "不在上级区域内",
        "town_mismatch" => "不属于同一乡镇",
        "self_disable" => "不能停用自己的账号",
        "no_roles" => "至少需要一个角色",
        "too_many" => "数量超出上限",
        "in_past" => "时间已过",
        "outside_town" => "位置不在本镇范围内",
        "photo_required" => "该类事件办结时须上传至少一张照片",
        "same_unit" => "不能转给当前处置单位",
        "not_open" => "目标事件不存在或已结束",
        "media_invalid" => "文件已损坏或时长超限",
        "must_match_path" => "须与地址中的编码一致",
        "evidence_required" => "该项须提供佐证照片或材料",
        "role_may_not_propose" => "该角色不能申报此项",
        "residents_may_not_propose_deductions" => "村民不能申报扣分项",
        "required_when_residents_propose" => "村民可申报的项目须要求佐证",
        "below_one_occurrence" => "上限低于单次分值",
        "positive" => "须为正数",
        "not_zero" => "不能为零",
        "too_many_items" => "条目过多",
        // Devices (issue 4).
        "household_or_location" => "设备只能绑定到一户或一个位置，不能同时绑定",
        "camera_in_household" => "摄像头不能绑定到农户家中",
        // Mediation (issue 6).
        "not_a_dispute_category" => "只有矛盾纠纷类事件可以转交调解",
        _ => "不符合规则",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_quality() {
        assert_eq!(Lang::negotiate(None), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("fr-FR, en;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("zh;q=0.3, en;q=0.7")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en;q=0")), Lang::ZhCn);
    }

    #[test]
    fn every_code_has_both_languages() {
        for code in [
            "invalid_json",
            "invalid_query",
            "validation_failed",
            "unauthenticated",
            "invalid_credentials",
            "too_many_attempts",
            "csrf_failed",
            "forbidden",
            "not_found",
            "conflict",
            "version_conflict",
            "duplicate",
            "payload_too_large",
            "unsupported_media_type",
            "invalid_card",
            "unknown_camera",
            "bad_signature",
            "stale_request",
            "replayed",
            "follow_up_not_due",
            "deadline_not_passed",
            "internal",
        ] {
            assert_ne!(message(code, Lang::ZhCn), message("no-such-code", Lang::ZhCn), "{code}");
            assert_ne!(message(code, Lang::En), message("no-such-code", Lang::En), "{code}");
        }
    }
}
