//! Setup of question 18 (tasks, models, measurements used only by its experiment).
