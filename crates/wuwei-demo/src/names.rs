//! Name tables: villages and people. All names are generated from parts; none is a real person.

use crate::rng::Rng;
use std::collections::BTreeSet;

/// Common surnames of north Shandong, most common first.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "孙", "马", "高", "徐", "郭", "于", "周", "吴", "朱", "宋", "韩", "胡",
    "董", "崔", "曹", "姜", "魏", "田", "许", "程", "冯", "邢", "贾", "付", "杜", "庞", "任", "吕", "侯", "梁", "谢",
    "范", "袁", "苏", "郑", "石", "邵", "闫", "丁", "齐", "孟", "史", "薛", "常", "牛", "秦", "鲁", "葛", "颜", "尹",
    "邱", "穆", "褚",
];

/// The first, most common surnames, drawn more often.
const COMMON: usize = 12;

/// A surname, weighted toward the most common ones.
pub(crate) fn surname(rng: &mut Rng) -> &'static str {
    if rng.chance(0.5) { rng.pick(&SURNAMES[..COMMON]) } else { rng.pick(SURNAMES) }
}

/// Generations of given names (born before 1960, 1960–1984, from 1985 on), male and female:
/// first characters and second characters.
const MALE: [(&[&str], &[&str]); 3] = [
    (
        &["德", "长", "玉", "金", "文", "志", "树", "振", "庆", "广", "春", "永", "福", "立", "洪", "宝"],
        &["福", "林", "山", "宝", "贵", "海", "华", "祥", "生", "田", "水", "才", "明", "顺", "喜", "堂"],
    ),
    (
        &["建", "国", "志", "海", "红", "卫", "永", "明", "立", "新", "振", "晓", "东", "洪", "学", "春"],
        &["军", "伟", "华", "强", "平", "刚", "勇", "涛", "峰", "波", "斌", "磊", "明", "杰", "林", "东"],
    ),
    (
        &["浩", "子", "宇", "俊", "博", "一", "晨", "嘉", "明", "泽", "梓", "思", "家", "天", "文", "志"],
        &["然", "轩", "涵", "宇", "辰", "航", "杰", "睿", "阳", "博", "鑫", "豪", "凯", "诚", "铭", "瑞"],
    ),
];
const FEMALE: [(&[&str], &[&str]); 3] = [
    (
        &["秀", "桂", "玉", "淑", "凤", "兰", "金", "春", "翠", "素", "美", "彩", "月", "巧"],
        &["英", "兰", "珍", "芳", "花", "荣", "霞", "云", "琴", "香", "梅", "莲", "芝", "娥"],
    ),
    (
        &["丽", "红", "秀", "海", "晓", "春", "玉", "艳", "美", "淑", "雪", "桂", "冬", "爱"],
        &["红", "霞", "燕", "丽", "芳", "娟", "玲", "梅", "艳", "萍", "静", "敏", "华", "英"],
    ),
    (
        &["欣", "子", "梓", "雨", "诗", "思", "佳", "可", "语", "若", "紫", "依", "梦", "心"],
        &["涵", "萱", "怡", "琪", "彤", "妍", "婷", "雪", "悦", "瑶", "璇", "菲", "然", "蕊"],
    ),
];

/// A given name fitting the person's gender and birth year: usually two characters, sometimes one.
pub(crate) fn given_name(rng: &mut Rng, female: bool, birth_year: i32) -> String {
    let gen_ix = if birth_year < 1960 {
        0
    } else if birth_year < 1985 {
        1
    } else {
        2
    };
    let table = if female { &FEMALE } else { &MALE };
    let (firsts, seconds) = table[gen_ix];
    if rng.chance(0.22) {
        rng.pick(seconds).to_string()
    } else {
        let a = rng.pick(firsts);
        let mut b = rng.pick(seconds);
        if b == a {
            b = rng.pick(seconds);
        }
        format!("{a}{b}")
    }
}

/// A full name with a given surname.
pub(crate) fn person_name_with(rng: &mut Rng, family: &str, female: bool, birth_year: i32) -> String {
    format!("{family}{}", given_name(rng, female, birth_year))
}

/// A full name with a random surname.
pub(crate) fn person_name(rng: &mut Rng, female: bool, birth_year: i32) -> String {
    let s = surname(rng);
    person_name_with(rng, s, female, birth_year)
}

const DIRECTIONS: &[&str] = &["前", "后", "东", "西", "南", "北", "大", "小", "中", "上", "下", "新"];
const SUFFIXES: &[&str] = &["庄", "村", "屯", "寨", "店", "营", "集", "洼", "楼", "桥", "铺", "官庄", "官屯"];
const JIA_SUFFIXES: &[&str] = &["庄", "寨", "屯", "洼", "村", "集", "营"];
const LANDSCAPES: &[&str] = &[
    "枣林", "柳行", "桑园", "梨园", "杏园", "榆林", "槐树", "石桥", "河口", "双庙", "三里", "五里", "八里", "高台",
    "土桥", "孤树", "苇河", "沙窝", "杨柳", "花园",
];
const LANDSCAPE_SUFFIXES: &[&str] = &["庄", "村", "屯", "铺", "店"];

/// One village name from parts; the surname, when the pattern has one, is returned too (many
/// households of a village share it).
fn village_name(rng: &mut Rng) -> (String, Option<&'static str>) {
    let roll = rng.index(100);
    if roll < 12 {
        let land = rng.pick(LANDSCAPES);
        let suf = rng.pick(LANDSCAPE_SUFFIXES);
        return (format!("{land}{suf}"), None);
    }
    let s = surname(rng);
    let name = match roll {
        12..=39 => format!("{}{s}{}", rng.pick(DIRECTIONS), rng.pick(SUFFIXES)), // 前李庄
        40..=59 => format!("{s}家{}", rng.pick(JIA_SUFFIXES)),                   // 孙家寨
        60..=71 => format!("{}{s}家", rng.pick(&["大", "小", "东", "西", "前", "后"])), // 大刘家
        _ => format!("{s}{}", rng.pick(SUFFIXES)),                               // 王庄
    };
    (name, Some(s))
}

/// Village names, unique among themselves and against `taken`.
pub(crate) struct VillageNamer {
    taken: BTreeSet<String>,
}

impl VillageNamer {
    pub(crate) fn new() -> VillageNamer {
        VillageNamer { taken: BTreeSet::new() }
    }

    /// A natural village name not used before.
    pub(crate) fn natural(&mut self, rng: &mut Rng) -> (String, Option<&'static str>) {
        loop {
            let (name, s) = village_name(rng);
            if self.taken.insert(name.clone()) {
                return (name, s);
            }
        }
    }

    /// An administrative village name (ending in 村, not 村村), not used before.
    pub(crate) fn admin(&mut self, rng: &mut Rng) -> String {
        loop {
            let (base, _) = village_name(rng);
            if base.ends_with('村') {
                continue;
            }
            let name = format!("{base}村");
            if !self.taken.contains(&base) && self.taken.insert(name.clone()) {
                // reserve the base too, so no natural village is named like the admin village
                self.taken.insert(base);
                return name;
            }
        }
    }
}

/// Chinese numeral for 1..=10 (grid numbers within a natural village).
pub(crate) fn numeral(n: usize) -> &'static str {
    const N: [&str; 11] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    N.get(n).copied().unwrap_or("十")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn village_names_are_unique_and_chinese() {
        let mut rng = Rng::stream(5, "n");
        let mut namer = VillageNamer::new();
        let mut all = BTreeSet::new();
        for _ in 0..8 {
            let n = namer.admin(&mut rng);
            assert!(n.ends_with('村') && !n.ends_with("村村"));
            assert!(all.insert(n));
        }
        for _ in 0..76 {
            let (n, _) = namer.natural(&mut rng);
            assert!((2..=5).contains(&n.chars().count()), "{n}");
            assert!(n.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
            assert!(all.insert(n));
        }
    }

    #[test]
    fn person_names_are_two_or_three_characters() {
        let mut rng = Rng::stream(5, "p");
        for year in [1940, 1970, 2010] {
            for female in [false, true] {
                let n = person_name(&mut rng, female, year);
                assert!((2..=3).contains(&n.chars().count()), "{n}");
            }
        }
    }
}
